"""`maskgate-convert evaluate-approach`: the door loop over people walking up, as a camera would show them.

`evaluate-door` judges single photos with the stills settings; the door runs a camera through the live detector
settings, the tracker and its vote, the fast-first pair and the change gate. Here every annotated dev scene
becomes a walk-up clip (convert.evaluation.walkup), runs through the loop `maskgate run` builds
(edge.app.build_pipeline:
the shipped Pipeline.run, tracker and gate, fresh per clip; detector and classifier built once), and every
decision is matched to the annotated face at its frame: IoU >= 0.4 with the face's box in that frame, or, where
no face reaches that, the decision box's centre inside a face box (the smallest). A queue of people stepping
into one spot and a real video without annotations run through the same loop.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from convert.evaluation import walkup
from convert.evaluation.door_eval import (
    MATCH_IOU,
    DoorEvalError,
    Scene,
    detector_settings,
    file_record,
    load_images,
    pct,
    policy_record,
    rate,
    read_scenes,
    table,
    write_json,
)
from edge.outputs import Output
from edge.sources.progress import with_progress
from edge.vision.labels import MASK, NO_MASK
from edge.vision.tracker import iou_matrix
from edge.vision.types import Box, Decision, Frame, TrackedFace

if TYPE_CHECKING:
    from edge.config import Config
    from edge.vision.labels import LabelPolicy
    from edge.vision.stats import LoopStats

log = logging.getLogger(__name__)

REPORT_NAME = "approach"
DOOR_WIDTH = 80.0
"""A face at least this wide at the end of its approach is a person at the door."""
SIZES = (("<32", 0.0, 32.0), ("32-79", 32.0, DOOR_WIDTH), ("80+", DOOR_WIDTH, float("inf")))
ALL = "all"
SIZE_NAMES = (*(name for name, _, _ in SIZES), ALL)
DOOR = SIZES[-1][0]
QUEUE_PEOPLE = 60
SEED = 0


def size_of(width: float) -> str:
    return next(name for name, lo, hi in SIZES if lo <= width < hi)


def box_width(box: Box) -> float:
    return box[2] - box[0]


def match_box(box: Box, truths: Sequence[Box | None]) -> tuple[int | None, str]:
    """The annotated face a decision (or tracked face) box belongs to, and how: "iou" (best IoU >= MATCH_IOU),
    "centre" (no IoU that high, its centre inside the face's box; the smallest such) or "none"."""
    present = [(i, t) for i, t in enumerate(truths) if t is not None]
    if not present:
        return None, "none"
    overlaps = iou_matrix([box], [t for _, t in present])[0]
    best = int(np.argmax(overlaps))
    if overlaps[best] >= MATCH_IOU:
        return present[best][0], "iou"
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    inside = [(box_width(t) * (t[3] - t[1]), i) for i, t in present if t[0] <= cx <= t[2] and t[1] <= cy <= t[3]]
    return (min(inside)[1], "centre") if inside else (None, "none")


# --- the loop -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One tracked face of one frame, as the loop's outputs get it."""

    frame: int
    track: int
    box: Box
    label: str
    decision: str | None
    detected: bool
    """Whether the detector ran on this frame (False: the change gate carried the last faces)."""


class Recording(Output):
    """An output that keeps every decision and every tracked face the loop hands its outputs."""

    name = "approach recording"

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.seen: list[Seen] = []
        self.frames = 0
        self.detected_frames = 0
        """Frames the detector ran on (the change gate did not carry the last faces)."""

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
        self.frames += 1
        detected = not getattr(stats.gate, "skipping", False)
        self.detected_frames += detected
        for face in faces:
            self.seen.append(Seen(int(frame.id), face.track, face.face.box, face.label, face.decision, detected))

    def on_decision(self, decision: Decision) -> None:
        self.decisions.append(decision)


class DoorLoop:
    """The parts `maskgate run` builds from the config (live detector settings, classifier with its fast-first
    pair, policy); `run` puts a clip through a fresh loop (tracker and gate) built as `maskgate run` builds it."""

    def __init__(self, config: Config) -> None:
        from convert.evaluation.door_eval import build_detector
        from edge.app import build_classifier, build_policy

        self.config = config
        self.detector = build_detector(config, stills=False)
        self.classifier = build_classifier(config)
        self.policy = build_policy(config)
        self.seconds = 0.0
        self.frames = 0
        self.gate_skipped = 0
        self.frame_errors = 0

    def run(self, frames: Iterable[Frame]) -> Recording:
        from edge.app import build_pipeline

        recording = Recording()
        pipeline = build_pipeline(self.config, self.detector, self.classifier, [recording])
        begin = time.perf_counter()
        try:
            stats = pipeline.run(frames)
        finally:
            pipeline.close()
        self.seconds += time.perf_counter() - begin
        self.frames += stats.frames
        self.frame_errors += stats.frame_errors + stats.skipped_frames
        self.gate_skipped += pipeline.gate.skipped if pipeline.gate is not None else 0
        return recording

    def settings(self) -> dict[str, object]:
        c = self.config
        classifier = self.classifier
        record: dict[str, object] = {
            "detector": detector_settings(c) | {"engine": self.detector.engine},
            "classifier": file_record(classifier.model_path),
            "fast_first": classifier.fast_first,
            "tracker": vars(c.tracker).copy(),
            "gate": vars(c.gate).copy() if c.gate.enabled else "off",
            "policy": policy_record(self.policy),
        }
        return record


def clip_frames(clip: Iterable[walkup.ClipFrame], boxes: list[tuple[Box | None, ...]]) -> Iterator[Frame]:
    """The clip's frames as the loop gets them from a source, keeping each frame's annotated boxes in `boxes`."""
    for clip_frame in clip:
        boxes.append(clip_frame.boxes)
        yield Frame(str(clip_frame.index), clip_frame.timestamp, clip_frame.image)


def empty_frames(config: Config) -> int:
    """Empty frames after an approach: walkup.EMPTY_FRAMES, or more where the tracker keeps a track longer, so
    every track ends inside its clip."""
    return max(walkup.EMPTY_FRAMES, config.tracker.max_missed + 1)


# --- walk-up clips ------------------------------------------------------------------------------------------


@dataclass
class Person:
    scene: str
    face: int
    label: str
    width_end: float
    first_seen: int
    door_frame: int | None
    """First frame the face is at least DOOR_WIDTH wide."""
    decisions: list[tuple[int, int, str]] = field(default_factory=list)
    """(frame, track, label) of each decision matched to this person, in order."""
    found: int = 0
    """Frames in which the detector found this face."""

    @property
    def size(self) -> str:
        return size_of(self.width_end)

    @property
    def first(self) -> tuple[int, int, str] | None:
        return self.decisions[0] if self.decisions else None

    @property
    def relabelled(self) -> bool:
        tracks = Counter(track for _, track, _ in self.decisions)
        return any(n > 1 for n in tracks.values())

    @property
    def split(self) -> bool:
        return len({track for _, track, _ in self.decisions}) > 1


@dataclass
class SceneOutcome:
    people: list[Person]
    unmatched: list[Decision]
    decision_widths: list[str]
    """Width class (at its frame) of the face each matched decision was matched to."""
    loose_matches: int
    """Decisions matched by their centre, not by IoU."""


def judge_scene(scene: Scene, image: np.ndarray, loop: DoorLoop) -> SceneOutcome:
    boxes: list[tuple[Box | None, ...]] = []
    clip = walkup.walkup_clip(image, [t.box for t in scene.truths], empty=empty_frames(loop.config))
    recording = loop.run(clip_frames(clip, boxes))
    people = []
    end = walkup.APPROACH_FRAMES - 1
    for number, truth in enumerate(scene.truths):
        seen = [i for i, frame in enumerate(boxes) if frame[number] is not None]
        last = boxes[end][number] if len(boxes) > end else None
        if not seen or last is None:
            continue
        door = next((i for i in seen if box_width(boxes[i][number]) >= DOOR_WIDTH), None)  # type: ignore[arg-type]
        people.append(Person(scene.name, number, truth.label, box_width(last), seen[0], door))
    by_face = {p.face: p for p in people}
    for seen in recording.seen:
        face, _ = match_box(seen.box, boxes[seen.frame])
        if seen.detected and face in by_face:
            by_face[face].found += 1
    unmatched, widths, loose = [], [], 0
    for decision in recording.decisions:
        frame = int(decision.frame)
        face, how = match_box(decision.box, boxes[frame])
        if face is None or face not in by_face:
            unmatched.append(decision)
            continue
        loose += how == "centre"
        widths.append(size_of(box_width(boxes[frame][face])))  # type: ignore[arg-type]
        by_face[face].decisions.append((frame, decision.track, decision.label))
    return SceneOutcome(people, unmatched, widths, loose)


def median(values: Sequence[float]) -> float | None:
    return round(float(statistics.median(values)), 1) if values else None


def people_scores(people: Sequence[Person], policy: LabelPolicy) -> dict[str, object]:
    """The walk-up numbers of a group of people (one width class, or all)."""
    decided = [p for p in people if p.first]
    of_class = defaultdict(list)
    for p in people:
        of_class[p.label].append(p)

    def first_lets_in(p: Person) -> bool:
        return p.first is not None and policy.lets_in(p.first[2])

    def first_stops(p: Person) -> bool:
        return p.first is not None and not policy.lets_in(p.first[2])

    masked, bare, wrong = of_class["mask"], of_class["no_mask"], of_class["mask_incorrect"]
    door_waits = [p.first[0] - p.door_frame + 1 for p in decided if p.door_frame is not None]  # type: ignore[index]
    return {
        "people": len(people),
        "by_class": {label: len(group) for label, group in sorted(of_class.items())},
        "found": rate(sum(p.found > 0 for p in people), len(people)),
        "found_in_3_frames": rate(sum(p.found >= 3 for p in people), len(people)),
        "decided": rate(len(decided), len(people)),
        "right": rate(sum(policy.state(p.first[2]) is policy.state(p.label) for p in decided), len(people)),  # type: ignore[index]
        "right_of_decided": rate(
            sum(policy.state(p.first[2]) is policy.state(p.label) for p in decided),  # type: ignore[index]
            len(decided),
        ),
        "exact_label_of_decided": rate(sum(p.first[2] == p.label for p in decided), len(decided)),  # type: ignore[index]
        "masked_let_in": rate(sum(map(first_lets_in, masked)), len(masked)),
        "masked_undecided": rate(sum(p.first is None for p in masked), len(masked)),
        "bare_let_in": rate(sum(map(first_lets_in, bare)), len(bare)),
        "bare_undecided": rate(sum(p.first is None for p in bare), len(bare)),
        "wrong_mask_let_in": rate(sum(map(first_lets_in, wrong)), len(wrong)),
        "wrong_mask_kept_out": rate(sum(map(first_stops, wrong)), len(wrong)),
        "decided_twice": rate(sum(len(p.decisions) > 1 for p in decided), len(decided)),
        "relabelled": rate(sum(p.relabelled for p in decided), len(decided)),
        "split": rate(sum(p.split for p in decided), len(decided)),
        "frames_to_decision_median": median([p.first[0] - p.first_seen + 1 for p in decided]),  # type: ignore[index]
        "frames_after_door_size_median": median([max(0, wait) for wait in door_waits]),
    }


def walkup_report(outcomes: Sequence[SceneOutcome], policy: LabelPolicy) -> dict[str, object]:
    people = [p for o in outcomes for p in o.people]
    unmatched = [d for o in outcomes for d in o.unmatched]
    scenes = len(outcomes)
    widths = Counter(w for o in outcomes for w in o.decision_widths)
    far = [d for p in people if p.size != DOOR for d in p.decisions]
    return {
        "scenes": scenes,
        "people": {size: people_scores([p for p in people if size in (ALL, p.size)], policy) for size in SIZE_NAMES},
        "decisions": {
            "all": sum(len(p.decisions) for p in people) + len(unmatched),
            "by_width_at_decision": {name: widths.get(name, 0) for name, _, _ in SIZES},
            "matched_by_centre": sum(o.loose_matches for o in outcomes),
            "on_people_not_at_door": len(far),
            "on_people_not_at_door_alarms": sum(policy.is_alarm(label) for _, _, label in far),
            "on_no_annotated_face": len(unmatched),
            "alarms_on_no_annotated_face": sum(policy.is_alarm(d.label) for d in unmatched),
            "on_no_annotated_face_per_20_scenes": round(20 * len(unmatched) / scenes, 2) if scenes else None,
            "on_no_annotated_face_by_width": dict(Counter(size_of(box_width(d.box)) for d in unmatched)),
        },
    }


# --- the queue ----------------------------------------------------------------------------------------------


def queue_pool(scenes: Iterable[tuple[Scene, np.ndarray]]) -> dict[str, list[walkup.Person]]:
    """Person crops of every annotated face at least walkup.QUEUE_MIN_FACE wide whose crop holds no other
    annotated face, by label."""
    pool: dict[str, list[walkup.Person]] = defaultdict(list)
    for scene, image in scenes:
        for number, truth in enumerate(scene.truths):
            others = [t.box for t in scene.truths if t is not truth]
            if box_width(truth.box) >= walkup.QUEUE_MIN_FACE and walkup.alone(image.shape, truth.box, others):
                pool[truth.label].append(walkup.person_crop(image, truth.box, truth.label, f"{scene.name}#{number}"))
    return dict(pool)


def judge_queue(pool: dict[str, list[walkup.Person]], people: int, seed: int, loop: DoorLoop) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    return queue_report(walkup.plan_queue(pool, people, rng), rng, loop) | {"seed": seed}


PHOTO_FOLDERS = {"with_mask": MASK, "without_mask": NO_MASK}
"""Class folders of a face-photo collection (crops-wild: `without_mask` is "not properly masked") -> label."""
PHOTO_MIN_SIDE = 64
"""Smaller photos are left out: pasted at a 110-130 px face they would be blurred far beyond a camera's."""


def photo_pool(folder: Path, faces_in: Callable[[np.ndarray], int] | None = None) -> dict[str, list[walkup.Person]]:
    """Tight face photos of another collection (not the dev scenes), by label, in file-name order; with
    `faces_in`, photos in which it counts two or more faces (two people in one photo) are left out."""
    from edge.sources.files import UnreadableImageError, read_image

    pool: dict[str, list[walkup.Person]] = {}
    for name, label in PHOTO_FOLDERS.items():
        people = []
        for path in sorted((folder / name).glob("*.jpg")):
            try:
                photo = read_image(path)
            except UnreadableImageError as exc:
                log.warning("photo queue: skipping %s: %s", path, exc)
                continue
            if min(photo.shape[:2]) < PHOTO_MIN_SIDE or (faces_in is not None and faces_in(photo) > 1):
                continue
            people.append(walkup.photo_person(photo, label, f"{name}/{path.name}"))
        pool[label] = people
    return pool


def judge_photo_queue(folder: Path, people: int, seed: int, loop: DoorLoop) -> dict[str, object]:
    """People of a face-photo collection stepping one after another into the same spot of one door, gaps of
    2-15 frames: everyone stands before the same background, so only the face tells them apart."""

    def faces_in(photo: np.ndarray) -> int:
        return len(loop.detector.detect(walkup.on_door_grey(photo)))

    rng = np.random.default_rng(seed)
    visits = walkup.plan_queue(
        photo_pool(folder, faces_in),
        people,
        rng,
        pattern=walkup.PHOTO_QUEUE_PATTERN,
        gaps=walkup.PHOTO_QUEUE_GAPS,
        step_in_share=1.0,
    )
    return queue_report(visits, rng, loop, walkup.PHOTO_QUEUE_GAPS) | {"seed": seed, "photos": str(folder)}


def queue_report(
    visits: Sequence[walkup.QueueVisit],
    rng: np.random.Generator,
    loop: DoorLoop,
    gaps: Sequence[int] = walkup.QUEUE_GAPS,
) -> dict[str, object]:
    """The queue of these visits (its door drawn with `rng`) through the loop: who got which decisions."""
    boxes: list[tuple[Box | None, ...]] = []
    recording = loop.run(clip_frames(walkup.queue_clip(visits, rng, empty_frames(loop.config)), boxes))
    decided: list[list[tuple[int, str]]] = [[] for _ in visits]
    unmatched = []
    for decision in recording.decisions:
        person, _ = match_box(decision.box, boxes[int(decision.frame)])
        if person is None:
            unmatched.append(decision.as_event())
        else:
            decided[person].append((decision.track, decision.label))
    served: dict[int, set[int]] = defaultdict(set)
    found: set[int] = set()
    for seen in recording.seen:
        person, _ = match_box(seen.box, boxes[seen.frame])
        if person is not None:
            served[seen.track].add(person)
            found.add(person)
    policy = loop.policy
    rows = []
    for number, (visit, decisions) in enumerate(zip(visits, decided, strict=True)):
        previous = visits[number - 1].person.label if number else None
        first = decisions[0][1] if decisions else None
        rows.append(
            {
                "person": number,
                "label": visit.person.label,
                "after": previous,
                "source": visit.person.source,
                "frames": [visit.first, visit.last],
                "entry": "steps in" if visit.steps_in else "walks up",
                "gap_before": visit.first - visits[number - 1].last - 1 if number else None,
                "found": number in found,
                "decisions": [label for _, label in decisions],
                "tracks": sorted({track for track, _ in decisions}),
                "right": first is not None and policy.state(first) is policy.state(visit.person.label),
            }
        )
    n = len(rows)
    transitions: dict[str, dict[str, object]] = {}
    for row in rows[1:]:
        key = f"{row['label']} after {row['after']}"
        group = transitions.setdefault(key, {"people": 0, "exactly_one_right": 0})
        group["people"] += 1  # type: ignore[operator]
        group["exactly_one_right"] += len(row["decisions"]) == 1 and row["right"]  # type: ignore[operator]
    entries: dict[str, dict[str, int]] = {}
    for row in rows:
        group = entries.setdefault(
            str(row["entry"]), {"people": 0, "exactly_one_right": 0, "none": 0, "two_or_more": 0}
        )
        group["people"] += 1
        group["exactly_one_right"] += len(row["decisions"]) == 1 and bool(row["right"])
        group["none"] += not row["decisions"]
        group["two_or_more"] += len(row["decisions"]) > 1
    return {
        "people": n,
        "frames": len(boxes),
        "gaps_frames": list(gaps),
        "not_found": rate(sum(not r["found"] for r in rows), n),
        "exactly_one": rate(sum(len(r["decisions"]) == 1 for r in rows), n),
        "exactly_one_right": rate(sum(len(r["decisions"]) == 1 and r["right"] for r in rows), n),
        "first_right": rate(sum(bool(r["right"]) for r in rows), n),
        "none": rate(sum(not r["decisions"] for r in rows), n),
        "none_though_found": rate(sum(not r["decisions"] and bool(r["found"]) for r in rows), n),
        "two_or_more": rate(sum(len(r["decisions"]) > 1 for r in rows), n),
        "tracks_serving_several_people": sum(len(people) > 1 for people in served.values()),
        "decisions_on_no_person": len(unmatched),
        "decisions_on_no_person_events": unmatched,
        "transitions": dict(sorted(transitions.items())),
        "entries": dict(sorted(entries.items())),
        "persons": rows,
    }


# --- the video ----------------------------------------------------------------------------------------------


def video_frames(path: Path, config: Config, fps: float = walkup.FPS) -> Iterator[Frame]:
    """The file's frames through edge.sources (as `maskgate run --source FILE` reads it), re-stamped with the
    frame number at `fps`: the file source stamps wall-clock time, which would make the report differ per run."""
    from edge.sources import open_source

    source = open_source(str(path), config.source)
    try:
        for number, frame in enumerate(source):
            yield Frame(frame.id, number / fps, frame.image)
    finally:
        source.close()


def judge_video(path: Path, loop: DoorLoop) -> dict[str, object]:
    recording = loop.run(video_frames(path, loop.config))
    detected = [s for s in recording.seen if s.detected]
    frames_with_faces = len({s.frame for s in detected})
    by_track: dict[int, list[Seen]] = defaultdict(list)
    for seen in recording.seen:
        by_track[seen.track].append(seen)
    vote_min, window = loop.config.tracker.vote_min, loop.config.tracker.vote_window
    short = sum(len({s.frame for s in seen if s.detected}) < vote_min for seen in by_track.values())
    decided_tracks = {d.track for d in recording.decisions}
    long_undecided = [
        t
        for t, seen in by_track.items()
        if t not in decided_tracks and len({s.frame for s in seen if s.detected}) >= vote_min
    ]
    unsure = sum(Counter(s.label for s in by_track[t]).most_common(1)[0][0] == "unsure" for t in long_undecided)
    small = sum(box_width(s.box) < 32 for s in detected)
    why = (
        f"the detector ran on {recording.detected_frames} of {recording.frames} frames (the change gate carried "
        f"the rest) and found a face in {frames_with_faces} of them, so a face is rarely found again in the next "
        f"frames: {short} of {len(by_track)} tracks were detected in fewer than {vote_min} frames, too few for the "
        f"{vote_min}-of-{window} vote; {len(long_undecided)} longer ones stayed undecided ({unsure} mostly "
        f"'unsure'); {small} of {len(detected)} detected faces ({100 * small / max(len(detected), 1):.0f}%) are "
        "under 32 px wide."
    )
    return {
        "file": str(path),
        "frames": recording.frames,
        "frames_through_detector": recording.detected_frames,
        "frames_with_faces": frames_with_faces,
        "faces_detected": len(detected),
        "faces_detected_by_width": {
            name: sum(size_of(box_width(s.box)) == name for s in detected) for name, _, _ in SIZES
        },
        "tracks": len(by_track),
        "tracks_by_frames_seen": dict(sorted(Counter(min(len(s), 10) for s in by_track.values()).items())),
        "decisions": [d.as_event() for d in recording.decisions],
        "decisions_by_label": dict(Counter(d.label for d in recording.decisions)),
        "why_few": why,
    }


# --- the command --------------------------------------------------------------------------------------------


def evaluate_approach(
    scenes_dir: Path,
    out_dir: Path,
    config: Config,
    limit: int | None = None,
    queue_people: int = QUEUE_PEOPLE,
    video: Path | None = None,
    seed: int = SEED,
    photo_queue: Path | None = None,
) -> dict:
    scene_set = read_scenes(scenes_dir)
    if limit:
        scene_set.scenes = scene_set.scenes[:limit]
    loop = DoorLoop(config)
    begin = time.perf_counter()
    scenes = with_progress(load_images(scene_set), len(scene_set.scenes), "walk-up clips")
    outcomes = [judge_scene(scene, image, loop) for scene, image in scenes]
    if not outcomes:
        raise DoorEvalError(f"{scenes_dir}: none of the {len(scene_set.scenes)} annotated scenes has a readable image")
    walk_seconds, walk_frames = time.perf_counter() - begin, loop.frames
    report: dict[str, object] = {
        "scenes": scene_set.summary(),
        "clip": {
            "size": [walkup.WIDTH, walkup.HEIGHT],
            "fps": walkup.FPS,
            "approach_frames": walkup.APPROACH_FRAMES,
            "start_scale": walkup.START_SCALE,
            "empty_frames": empty_frames(config),
            "jpeg_quality": walkup.JPEG_QUALITY,
            "walk": "1/distance at a steady pace",
        },
        "settings": loop.settings() | {"match_iou": MATCH_IOU, "door_width": DOOR_WIDTH},
        "walkup": walkup_report(outcomes, loop.policy),
    }
    if queue_people:
        pool = queue_pool(load_images(read_scenes(scenes_dir)))
        report["queue"] = judge_queue(pool, queue_people, seed, loop)
        if photo_queue is not None:
            report["photo_queue"] = judge_photo_queue(photo_queue, queue_people, seed, loop)
    if video is not None:
        report["video"] = judge_video(video, loop)
    seconds = time.perf_counter() - begin
    report["timing"] = {
        "seconds": round(seconds, 1),
        "walkup_seconds": round(walk_seconds, 1),
        "walkup_frames": walk_frames,
        "ms_per_frame": round(1000 * walk_seconds / max(walk_frames, 1), 1),
        "frames": loop.frames,
        "gate_skipped": loop.gate_skipped,
        "frame_errors": loop.frame_errors,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / f"{REPORT_NAME}.json", report)
    (out_dir / f"{REPORT_NAME}.md").write_text(approach_markdown(report), encoding="utf-8")
    log.info("wrote %s/%s.{md,json}", out_dir, REPORT_NAME)
    return report


# --- the report ---------------------------------------------------------------------------------------------

WALKUP_COLUMNS = (
    ("found", "found by the detector"),
    ("found_in_3_frames", "found in 3+ frames"),
    ("decided", "decided"),
    ("right", "first decision right (door state)"),
    ("masked_let_in", "masked let in"),
    ("bare_let_in", "bare let in"),
    ("wrong_mask_kept_out", "wrong masks kept out"),
    ("decided_twice", "decided twice"),
    ("relabelled", "relabelled (one track)"),
    ("split", "split (two+ tracks)"),
)


def dash(value: object) -> str:
    return "—" if value is None else str(value)


def approach_markdown(report: dict) -> str:
    clip, settings, walk = report["clip"], report["settings"], report["walkup"]
    decisions = walk["decisions"]
    tracker = settings["tracker"]
    lines = [
        "# The door in motion: walk-up clips through the door loop",
        "",
        f"Clips: each of {walk['scenes']} annotated scenes (`{report['scenes']['dir']}`) fitted into a "
        f"{clip['size'][0]}x{clip['size'][1]} frame and grown from {clip['start_scale']} to 1.0 over "
        f"{clip['approach_frames']} frames at {clip['fps']} FPS as a walker's face grows (1/distance at a steady "
        f"pace), then {clip['empty_frames']} empty frames; every frame JPEG {clip['jpeg_quality']}. "
        f"Run through `maskgate run`'s loop (edge.app.build_pipeline): classifier "
        f"`{settings['classifier']['file']}` (sha256 {settings['classifier']['sha256'][:12]}…), fast first: "
        f"{settings['fast_first'] or 'no'}; detector input {settings['detector']['input_size']}, score "
        f"{settings['detector']['score_threshold']}, second look {settings['detector']['second_look_size'] or 'off'}; "
        f"vote {tracker['vote_min']} of {tracker['vote_window']}, recheck every {tracker['recheck_every']}; "
        f"gate {'on' if settings['gate'] != 'off' else 'off'}.",
        f"Matching: a decision belongs to the annotated face with IoU ≥ {settings['match_iou']} at its frame, else "
        "to the smallest face box holding its centre. A person's size is the face width in the last approach "
        f"frame; at the door = ≥ {settings['door_width']:g} px.",
        "",
        "## Walk-up: people by face width at the end of the approach",
        "",
        *table(
            ["width", "people", *(title for _, title in WALKUP_COLUMNS), "frames to decision (median)"],
            [
                [
                    size,
                    s["people"],
                    *(pct(s[key]) for key, _ in WALKUP_COLUMNS),
                    f"{dash(s['frames_to_decision_median'])} (after reaching {settings['door_width']:g} px: "
                    f"{dash(s['frames_after_door_size_median'])})",
                ]
                for size, s in walk["people"].items()
            ],
        ),
        "",
        "## Walk-up: decisions",
        "",
        f"- decisions: {decisions['all']}; on faces by their width at the decision's frame: "
        + ", ".join(f"{k} px: {v}" for k, v in decisions["by_width_at_decision"].items())
        + f"; matched by centre, not IoU: {decisions['matched_by_centre']}.",
        f"- on people not at the door (< {settings['door_width']:g} px at the end): "
        f"{decisions['on_people_not_at_door']} ({decisions['on_people_not_at_door_alarms']} alarms).",
        f"- on no annotated face: {decisions['on_no_annotated_face']} ({decisions['alarms_on_no_annotated_face']} "
        f"alarms), {decisions['on_no_annotated_face_per_20_scenes']} per 20 scenes; by width: "
        f"{decisions['on_no_annotated_face_by_width'] or 'none'}.",
        "",
    ]
    if "queue" in report:
        q = report["queue"]
        lines += queue_markdown(
            q,
            "## Queue: people stepping one after another into the same spot",
            f"{q['people']} people (dev face crops ≥ 80 px with no other annotated face, pasted at one spot of a "
            "synthetic door, each growing to a 130 px face over 18-26 frames from 52 px (walks up) or 110 px "
            f"(steps in), then gone), gaps of {min(q['gaps_frames'])}-{max(q['gaps_frames'])} frames, seed "
            f"{q['seed']}, {q['frames']} frames.",
        )
    if "photo_queue" in report:
        q = report["photo_queue"]
        lines += queue_markdown(
            q,
            "## Photo queue: face photos of another collection stepping into the same spot",
            f"{q['people']} people (tight face photos of `{q['photos']}`, at least {PHOTO_MIN_SIDE} px, pasted at "
            "one spot of a synthetic door before the same background, each stepping in at a 110 px face and "
            f"growing to 130 px over 18-26 frames, then gone), gaps of {min(q['gaps_frames'])}-"
            f"{max(q['gaps_frames'])} frames, seed {q['seed']}, {q['frames']} frames.",
        )
    if "video" in report:
        v = report["video"]
        lines += [
            "## Video without annotations",
            "",
            f"`{v['file']}`: {v['frames']} frames ({v['frames_through_detector']} through the detector, "
            f"{v['frames_with_faces']} with a face), "
            f"{v['faces_detected']} faces detected (by width: "
            + ", ".join(f"{k} px: {n}" for k, n in v["faces_detected_by_width"].items())
            + f"), {v['tracks']} tracks, {len(v['decisions'])} decisions {v['decisions_by_label'] or ''}.",
            f"Why few: {v['why_few']}",
            "",
        ]
    t = report["timing"]
    lines += [
        f"Time: {t['seconds']} s in all; walk-up clips {t['walkup_seconds']} s for {t['walkup_frames']} frames "
        f"({t['ms_per_frame']} ms per frame); the change gate skipped {t['gate_skipped']} of {t['frames']} frames; "
        f"frames failed: {t['frame_errors']}.",
        "",
        "## Definitions",
        "",
        "- found: the detector found the face (a tracked box matched to it) in at least one frame, or three.",
        "- decided: at least one decision matched to the person. first decision right: its door state (the "
        "label policy's) is that of the person's annotated class; of all people.",
        "- masked let in / bare let in / wrong masks kept out: of all people of that class, whose first decision "
        "the policy lets in (or, for kept out, does not); an undecided person is neither.",
        "- decided twice: of the decided, people with more than one decision; relabelled: one track decided "
        "more than once; split: decisions from two or more tracks (a person can be both).",
        "- frames to decision: frames from the first the face is in view to its first decision, both counted "
        "(3 = decided on the third frame); after reaching the door width: from the first frame it is that wide "
        "(0 = decided before).",
        "- decisions on no annotated face: matched to no face at their frame (unannotated faces, or boxes "
        "elsewhere); alarms are those the policy does not let in.",
    ]
    return "\n".join(lines) + "\n"


def queue_markdown(q: dict, heading: str, description: str) -> list[str]:
    return [
        heading,
        "",
        description,
        "",
        *table(
            [
                "exactly one decision",
                "exactly one, right",
                "first right",
                "none",
                "none, though found",
                "never found by the detector",
                "two or more",
                "tracks serving several people",
                "decisions on nobody",
            ],
            [
                [
                    pct(q["exactly_one"]),
                    pct(q["exactly_one_right"]),
                    pct(q["first_right"]),
                    pct(q["none"]),
                    pct(q["none_though_found"]),
                    pct(q["not_found"]),
                    pct(q["two_or_more"]),
                    q["tracks_serving_several_people"],
                    q["decisions_on_no_person"],
                ]
            ],
        ),
        "",
        *table(
            ["who after whom", "people", "exactly one decision, right"],
            [[k, v["people"], v["exactly_one_right"]] for k, v in q["transitions"].items()],
        ),
        "",
        *table(
            ["how they enter", "people", "exactly one decision, right", "none", "two or more"],
            [[k, v["people"], v["exactly_one_right"], v["none"], v["two_or_more"]] for k, v in q["entries"].items()],
        ),
        "",
    ]
