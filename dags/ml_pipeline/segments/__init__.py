"""One model per segment (configuration `segment_column`): each distinct value of a column gets its own model, gated
on its own holdout, and `models:/<model_name>@champion` becomes a router that sends each row to its segment's
champion, or to the fallback trained on every row (docs/segments.md)."""
