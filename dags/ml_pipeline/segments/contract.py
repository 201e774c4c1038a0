"""What the segment tasks hand each other through XCom, and the names of a segmented run's registered models, tags
and output columns (the rest of what tasks exchange is in ml_pipeline.contract)."""

from __future__ import annotations

from typing import TypedDict

from ml_pipeline.contract import TrainingResult

# Registered models: each segment's own, and the fallback trained on every row; `<model_name>` holds the routers.
SEGMENT_INFIX = ".seg."  # <model_name>.seg.<slug>
FALLBACK_SUFFIX = ".all"  # <model_name>.all
# Tags on a segment's registered model, and on router versions: how many segments it routes, and to what.
TAG_SEGMENT_OF = "segment_of"
TAG_SEGMENT_COLUMN = "segment_column"
TAG_SEGMENT_VALUE = "segment_value"
TAG_ROUTING = "routing"


class SegmentGroup(TypedDict):
    """One train_segments / persist_segments instance: a share of the segments, balanced by rows."""

    group: int
    label: str  # "group 3/30: 34 segments, 33,812 rows": the mapped instance's name in the UI
    manifest_uri: str  # every segment of the run; this group's are those with its number
    segments: int
    rows: int


class SegmentTrainings(TypedDict):
    """What train_segments[group] found for one segment: its candidates' trainings, or why it has none."""

    segment: str
    slug: str
    trainings: list[TrainingResult]
    failures: dict[str, str]  # candidate name -> why it did not train on this segment


class SegmentDecision(TypedDict):
    """persist_segments' outcome for one segment: its registered version and the gate's decision, or why not."""

    segment: str
    model_name: str
    version: str | None
    alias: str  # champion, challenger, or "" when nothing was registered
    promoted: bool
    reason: str
    metrics: dict[str, float]


class SegmentsResult(TypedDict):
    """persist_segments[group]'s output: counts, and where each segment's decision is written."""

    group: int
    decisions_uri: str
    promoted: int
    kept: int  # registered, but its champion (or, for a first version, the fallback) scores better
    skipped: int  # nothing registered: no candidate trained on it, or MLflow refused
    promoted_segments: list[str]  # at most a few, for the summary


class RouterResult(TypedDict):
    """publish_router's output: the router version `<model_name>@champion` points at when it earned it."""

    model_name: str
    version: str
    reused: bool
    promoted: bool
    alias: str
    reason: str
    previous_champion: str | None
    metrics: dict[str, float]
    segment_column: str
    segments_routed: int  # segments with their own champion
    fallback: str  # "<model_name>.all v3"
    routing_uri: str
