"""Synthetic arXiv metadata-snapshot records with real word statistics, for benchmarks and load tests.

Word frequencies, sentence, title and abstract lengths, author names, categories, version counts
and how often each optional field is present are all measured from the real records in
`../shared/data` (arxiv-abs-sample.jsonl and seed-papers.jsonl). Ids are unique new-style ids
(`YYMM.NNNNN`, January 2015 on). The output depends only on the count and the seed.

    python bench/synthetic.py --count 100000 --seed 1 --out /tmp/papers.jsonl.gz

Speed comes from sampling in C: a word is two random bytes indexing a 65,536-slot table in which
each real word holds slots in proportion to its count. Sentences, author identities, category
lists and reference strings are drawn into per-seed pools of 65,536 once, and a record is
assembled from pool entries (abstracts from about eight sentences, so they are all distinct).
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import json
import os
import re
import sys
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from random import Random
from typing import IO, Any

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
SNAPSHOT_SAMPLE = "arxiv-abs-sample.jsonl"
SEED_PAPERS = "seed-papers.jsonl"

POOL = 1 << 16  # slots in each sampling table and entries in each pool: one index is two bytes
SMALL_POOL = 1 << 12  # entries in the pools of comments and references (masked picks)
SMALL_MASK = SMALL_POOL - 1
TAIL_MAX_COUNT = 2  # words seen at most this often form the long tail
TITLE_WORDS = (6, 15)
ABSTRACT_WORDS = (100, 250)
SENTENCE_WORDS = (4, 60)
AUTHORS = (1, 12)
VERSIONS = (1, 5)
FIRST_MONTH = (2015, 1)  # five-digit new-style ids start with 1501
SPREAD_MONTHS = 96  # records are spread over about eight years ...
MAX_PER_MONTH = 20_000  # ... at no more than arXiv's real monthly volume

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ENDS_SENTENCE = ".?!"
_DIGITS = re.compile(r"[0-9]+")


# --- generating ------------------------------------------------------------------------------------


def generate(count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Yield `count` snapshot records (dicts in the snapshot's key order), deterministic per seed."""
    for plan in month_plans(count, seed):
        yield from generate_month(plan, seed)


@dataclass(frozen=True)
class MonthPlan:
    """The records of one id month: `YYMM.` prefix and how many ids it gets."""

    year: int
    month: int
    size: int


def month_plans(count: int, seed: int) -> list[MonthPlan]:
    """How many records each month gets (jittered around an even spread)."""
    rng = Random(f"{seed}/months")
    per_month = max(1, min(MAX_PER_MONTH, -(-count // SPREAD_MONTHS)))
    plans, year, month, left = [], *FIRST_MONTH, count
    while left > 0:
        size = min(left, max(1, int(per_month * (0.8 + 0.4 * rng.random()))))
        plans.append(MonthPlan(year, month, size))
        left -= size
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if year % 100 == 0:
            raise ValueError(f"{count} records do not fit in new-style ids at {MAX_PER_MONTH} a month")
    return plans


def generate_month(plan: MonthPlan, seed: int) -> Iterator[dict[str, Any]]:
    """The records of one month; each month has its own random stream, so months can run in parallel."""
    pools = load_pools(seed)
    rng = Random(f"{seed}/{plan.year}-{plan.month}")
    prefix = f"{plan.year % 100:02d}{plan.month:02d}."
    month_start = calendar.timegm((plan.year, plan.month, 1, 0, 0, 0, 0, 0, 0))
    # A quarter of the numbers are skipped: ids withdrawn before announcement leave gaps.
    steps = array("B", rng.randbytes(plan.size))
    number = 0
    for step in steps:
        number += 1 if step < 192 else 2
        yield _record(pools, rng, f"{prefix}{number:05d}", month_start)


# Positions in a record's block of random picks (each in [0, 65536)).
_AUTHOR_PICKS = 20  # up to AUTHORS[1] picks from here
_SENTENCE_PICKS = _AUTHOR_PICKS + AUTHORS[1]  # up to MAX_SENTENCES picks from here
MAX_SENTENCES = 14
_PICKS = _SENTENCE_PICKS + MAX_SENTENCES + 2  # and two for the compound word


def _record(pools: Pools, rng: Random, paper_id: str, month_start: int) -> dict[str, Any]:
    r = array("H", rng.randbytes(2 * _PICKS))
    p = pools.presence
    authors = [pools.authors[i] for i in r[_AUTHOR_PICKS:_AUTHOR_PICKS + pools.author_counts[r[0]]]]
    submitter = authors[0] if r[1] < 39322 else authors[r[1] % len(authors)]
    versions, day = _versions(pools, r[2], r[3], r[4], month_start)
    return {
        "id": paper_id,
        "submitter": submitter[2],
        "authors": authors[0][2] if len(authors) == 1
        else ", ".join([a[2] for a in authors[:-1]]) + " and " + authors[-1][2],
        "title": f"{pools.title_openings[r[5]]} {pools.title_endings[r[6]]}",
        "comments": pools.comments[r[7] & SMALL_MASK] if r[8] < p["comments"] else None,
        "journal-ref": pools.journal_refs[r[9] & SMALL_MASK] if r[10] < p["journal-ref"] else None,
        "doi": f"{pools.doi_stems[r[11] & SMALL_MASK]}{paper_id[:4]}{paper_id[5:]}"
        if r[12] < p["doi"] else None,
        "report-no": pools.report_numbers[r[13] & SMALL_MASK] if r[14] < p["report-no"] else None,
        "categories": pools.categories[r[15]],
        "license": pools.licenses[r[16]],
        "abstract": _abstract(pools, r),
        "versions": versions,
        "update_date": day,
        "authors_parsed": [[last, first, ""] for first, last, _ in authors],
    }


def _abstract(pools: Pools, r: array[int]) -> str:
    """As many pool sentences as a real abstract has (kept within ABSTRACT_WORDS), ending in a fresh
    hyphenated compound, so the vocabulary keeps growing with the corpus as a real one does."""
    picks = r[_SENTENCE_PICKS:_SENTENCE_PICKS + pools.sentence_counts[r[17]]]
    words = sum(itemgetter(*picks)(pools.sentence_lengths))
    low, high = ABSTRACT_WORDS
    extra = 0
    while words < low and len(picks) < MAX_SENTENCES:
        picks.append(r[18 + extra] ^ r[_SENTENCE_PICKS + extra])  # another pick, from two unused ones
        words += pools.sentence_lengths[picks[-1]]
        extra += 1
    while words > high and len(picks) > 2:
        words -= pools.sentence_lengths[picks.pop()]
    text = " ".join(itemgetter(*picks)(pools.sentences))
    parts = pools.compound_parts
    return f"{text[:-1]} {parts[r[-1] % len(parts)]}-{parts[r[-2] % len(parts)]}."


def _versions(pools: Pools, count_pick: int, day_pick: int, second_pick: int,
              month_start: int) -> tuple[list[dict[str, str]], str]:
    """1-5 versions, strictly later each, the first within the id's month; and the update date."""
    moment = month_start + (day_pick % 27) * 86400 + second_pick + (day_pick >> 5) % 21600
    day, second = divmod(moment, 86400)
    dates = _day(day)
    versions = [{"version": "v1", "created": f"{dates[0]} {pools.clock_times[second]}"}]
    for number in range(2, pools.version_counts[count_pick] + 1):
        moment += pools.version_gaps[(day_pick * number + second_pick) & 0xFFFF]
        day, second = divmod(moment, 86400)
        dates = _day(day)
        versions.append({"version": f"v{number}", "created": f"{dates[0]} {pools.clock_times[second]}"})
    return versions, dates[1]


@lru_cache(maxsize=8192)
def _day(day: int) -> tuple[str, str]:
    """(`Tue, 1 Nov 1994`, `1994-11-01`) for a day number since the epoch."""
    t = time.gmtime(day * 86400)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday} {_MONTHS[t.tm_mon - 1]} {t.tm_year}",
            time.strftime("%Y-%m-%d", t))


# --- pools: per-seed draws from the measured distributions -----------------------------------------


@dataclass(frozen=True)
class Pools:
    sentences: list[str]
    sentence_lengths: list[int]
    sentence_counts: list[int]
    compound_parts: list[str]
    title_openings: list[str]
    title_endings: list[str]
    authors: list[tuple[str, str, str]]
    author_counts: list[int]
    version_counts: list[int]
    version_gaps: list[int]
    clock_times: list[str]
    categories: list[str]
    comments: list[str]
    journal_refs: list[str]
    doi_stems: list[str]
    report_numbers: list[str]
    licenses: list[str | None]
    presence: dict[str, int]  # thresholds on a pick in [0, 65536)


@lru_cache(maxsize=4)
def load_pools(seed: int) -> Pools:
    """Draw the per-seed pools from the real distributions (about a second)."""
    model = load_model()
    rng = Random(f"{seed}/pools")
    return Pools(
        sentences=(sentences := [_sentence(model, rng) for _ in range(POOL)]),
        sentence_lengths=[sentence.count(" ") + 1 for sentence in sentences],
        sentence_counts=_spread(model.sentence_counts, rng),
        compound_parts=model.compound_parts,
        title_openings=[_title_part(model, rng, opening=True) for _ in range(POOL)],
        title_endings=[_title_part(model, rng, opening=False) for _ in range(POOL)],
        authors=[_author(model, rng) for _ in range(POOL)],
        author_counts=_spread(model.author_counts, rng),
        version_counts=_spread(model.version_counts, rng),
        version_gaps=[3600 + int(rng.expovariate(1 / (60 * 86400))) for _ in range(POOL)],
        clock_times=[f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d} GMT" for s in range(86400)],
        categories=[_categories(model, rng) for _ in range(POOL)],
        comments=[_comment(model, rng) for _ in range(SMALL_POOL)],
        journal_refs=[_renumbered(rng.choice(model.journal_refs), rng) for _ in range(SMALL_POOL)],
        doi_stems=[_doi_stem(rng.choice(model.dois), rng) for _ in range(SMALL_POOL)],
        report_numbers=[_renumbered(rng.choice(model.report_numbers), rng) for _ in range(SMALL_POOL)],
        licenses=_spread(model.licenses, rng),
        presence={key: int(share * POOL) for key, share in model.presence.items()},
    )


def _spread(values: Sequence[Any], rng: Random) -> list[Any]:
    """POOL draws from the empirical distribution `values`, so a pick indexes it with two bytes."""
    return [values[int(rng.random() * len(values))] for _ in range(POOL)]


def _sentence(model: Model, rng: Random) -> str:
    length = rng.choice(model.sentence_lengths)
    words = list(itemgetter(*array("H", rng.randbytes(2 * length)))(model.abstract_table))  # length >= 4
    # Words seen once or twice in the real text appear at their real overall rate.
    for index in range(int(rng.random() * model.tail_step), length, model.tail_step):
        words[index] = model.tail_words[int(rng.random() * len(model.tail_words))]
    sentence = " ".join(words).rstrip(".,;:")
    return sentence[:1].upper() + sentence[1:] + "."


def _title_part(model: Model, rng: Random, *, opening: bool) -> str:
    """Half a title: the opening gets the larger half of a real title length, and a capital."""
    length = rng.choice(model.title_lengths)
    length = (length + 1) // 2 if opening else length // 2
    text = " ".join(model.title_table[rng.getrandbits(16)] for _ in range(length))
    return text[:1].upper() + text[1:] if opening else text.rstrip(".,;:")


def _author(model: Model, rng: Random) -> tuple[str, str, str]:
    """(first, last, display name); some first names as initials, some with a middle initial."""
    first = rng.choice(model.first_names)
    if rng.random() < 0.15:
        first = first[0] + "."
    if rng.random() < 0.2:
        first = f"{first} {chr(65 + rng.randrange(26))}."
    last = rng.choice(model.last_names)
    return first, last, f"{first} {last}"


def _categories(model: Model, rng: Random) -> str:
    primary = rng.choice(model.primaries)
    chosen = [primary]
    pool = model.cross_lists.get(primary) or model.all_categories
    for _ in range(rng.choice(model.extra_category_counts)):
        extra = rng.choice(pool if rng.random() < 0.8 else model.all_categories)
        if extra not in chosen:
            chosen.append(extra)
    return " ".join(chosen)


def _comment(model: Model, rng: Random) -> str:
    if rng.random() < 0.5:
        pages, figures = 4 + int(rng.expovariate(1 / 14)), int(rng.expovariate(1 / 5))
        return f"{pages} pages, {figures} figures" if figures else f"{pages} pages"
    return rng.choice(model.comments)


def _renumbered(text: str, rng: Random) -> str:
    """A real reference with each run of digits redrawn at the same width."""
    return _DIGITS.sub(lambda m: str(rng.randrange(10 ** len(m[0]))).zfill(len(m[0])), text)


def _doi_stem(doi: str, rng: Random) -> str:
    """A real DOI renumbered, less its last digits; the paper's id digits complete it (unique DOIs)."""
    prefix, _, suffix = doi.partition("/")
    return f"{prefix}/{_renumbered(suffix, rng).rstrip('0123456789')}"


# --- the model: distributions measured from the real records ---------------------------------------


@dataclass(frozen=True)
class Model:
    abstract_table: list[str]
    tail_words: list[str]
    tail_step: int
    compound_parts: list[str]
    title_table: list[str]
    sentence_lengths: list[int]
    sentence_counts: list[int]
    title_lengths: list[int]
    first_names: list[str]
    last_names: list[str]
    author_counts: list[int]
    version_counts: list[int]
    primaries: list[str]
    cross_lists: dict[str, list[str]]
    all_categories: list[str]
    extra_category_counts: list[int]
    comments: list[str]
    journal_refs: list[str]
    dois: list[str]
    report_numbers: list[str]
    licenses: list[str | None]
    presence: dict[str, float]


@lru_cache(maxsize=1)
def load_model(data_dir: Path | None = None) -> Model:
    """Measure the distributions in the real records of `data_dir` (default: ../shared/data)."""
    data_dir = data_dir or Path(os.environ.get("PAPERCAST_SHARED_DATA", DATA_DIR))
    snapshot = {r["id"]: r for r in _read(data_dir / SNAPSHOT_SAMPLE)}  # last version of each id
    texts = [*snapshot.values(), *_read(data_dir / SEED_PAPERS)]
    words, title_words = Counter[str](), Counter[str]()
    sentence_lengths, sentence_counts, title_lengths = [], [], []
    for record in texts:
        sentences = _sentences(record.get("abstract") or "")
        for sentence in sentences:
            words.update(sentence)
            sentence_lengths.append(len(sentence))
        if ABSTRACT_WORDS[0] <= sum(map(len, sentences)) <= ABSTRACT_WORDS[1]:
            sentence_counts.append(len(sentences))
        title = (record.get("title") or "").split()
        title_words.update(title)
        title_lengths.append(len(title))
    main = {w: c for w, c in words.items() if c > TAIL_MAX_COUNT}
    tail = {w: c for w, c in words.items() if c <= TAIL_MAX_COUNT}
    title_weights = Counter({w: 3 * c for w, c in title_words.items()})  # title words, plus
    title_weights.update(main)  # the abstract vocabulary
    first_names, last_names, author_counts = _names(snapshot.values())
    primaries, cross_lists, extra_counts = _category_stats(snapshot.values())
    return Model(
        abstract_table=_slot_table(main),
        tail_words=sorted(tail),
        tail_step=round(sum(words.values()) / sum(tail.values())),
        compound_parts=sorted(w for w, c in main.items()
                              if w.isalpha() and w.islower() and len(w) >= 3 and c <= 60),
        title_table=_slot_table(title_weights),
        sentence_lengths=_clipped(sentence_lengths, SENTENCE_WORDS),
        title_lengths=_clipped(title_lengths, TITLE_WORDS),
        sentence_counts=_clipped(sentence_counts, (2, MAX_SENTENCES)),
        first_names=first_names,
        last_names=last_names,
        author_counts=author_counts,
        version_counts=_clipped([len(r.get("versions") or [1]) for r in snapshot.values()], VERSIONS),
        primaries=primaries,
        cross_lists=cross_lists,
        all_categories=sorted({c for cs in cross_lists.values() for c in cs} | set(primaries)),
        extra_category_counts=extra_counts,
        comments=_values(snapshot.values(), "comments"),
        journal_refs=_values(snapshot.values(), "journal-ref"),
        dois=[d for d in _values(snapshot.values(), "doi") if d.startswith("10.") and "/" in d],
        report_numbers=_values(snapshot.values(), "report-no"),
        # Every submission since 2004 carries a licence: keep "none" rare.
        licenses=[*(named := sorted(r["license"] for r in snapshot.values() if r.get("license"))),
                  *[None] * (len(named) // 20)],
        presence={key: sum(1 for r in snapshot.values() if r.get(key)) / len(snapshot)
                  for key in ("comments", "journal-ref", "doi", "report-no")},
    )


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise SystemExit(f"synthetic: {path} not found (the repo must sit beside shared/, "
                         "or set PAPERCAST_SHARED_DATA)")
    with path.open(encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def _sentences(text: str) -> list[list[str]]:
    """Whitespace tokens per sentence, punctuation kept except the full stop that ends a sentence;
    a capital that only marks a sentence start is lowered."""
    sentences: list[list[str]] = []
    current: list[str] = []
    tokens = text.split()
    for index, token in enumerate(tokens):
        if not current and token[:1].isupper() and token[1:].islower():
            token = token.lower()
        ends = token[-1] in _ENDS_SENTENCE and (index + 1 == len(tokens) or tokens[index + 1][:1].isupper())
        current.append(token[:-1] if ends and len(token) > 1 else token)
        if ends:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def _slot_table(counts: dict[str, int]) -> list[str]:
    """POOL slots shared among words in proportion to their counts (largest remainder)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    total = sum(count for _, count in ranked)
    shares = [(word, count * POOL / total) for word, count in ranked]
    slots = {word: int(share) for word, share in shares}
    spare = POOL - sum(slots.values())
    for word, _ in sorted(shares, key=lambda item: (int(item[1]) - item[1], item[0]))[:spare]:
        slots[word] += 1
    return [word for word, _ in ranked for _ in range(slots[word])]


def _clipped(values: list[int], bounds: tuple[int, int]) -> list[int]:
    low, high = bounds
    kept = sorted(v for v in values if low <= v <= high)
    return kept or list(range(low, high + 1))


def _names(records: Iterable[dict[str, Any]]) -> tuple[list[str], list[str], list[int]]:
    """First and last names seen in real author lists, and the real number of authors per paper."""
    firsts, lasts, counts = set(), set(), []
    for record in records:
        line = (record.get("authors") or "").replace(" and ", ", ")
        depth, kept = 0, []
        for char in line:  # drop "(affiliations)"
            depth += char == "("
            if depth == 0:
                kept.append(char)
            depth -= char == ")" and depth > 0
        names = [n.strip() for n in "".join(kept).split(",") if n.strip()]
        counts.append(len(names))
        for name in names:
            parts = name.split()
            if not 2 <= len(parts) <= 4 or "\\" in name or "{" in name:
                continue
            if _is_name_word(parts[0]):
                firsts.add(parts[0])
            if _is_name_word(parts[-1]):
                lasts.add(parts[-1])
    return sorted(firsts), sorted(lasts), _clipped(counts, AUTHORS)


def _is_name_word(word: str) -> bool:
    """`Salman`, `Garcia-Etxebarria`; not `D.`, `team`, `III`."""
    pieces = word.split("-")
    return len(word) > 2 and all(p[:1].isupper() and p[1:].isalpha() and p[1:].islower() and len(p) > 1
                                 for p in pieces)


def _category_stats(records: Iterable[dict[str, Any]]) -> tuple[list[str], dict[str, list[str]], list[int]]:
    primaries: list[str] = []
    cross_lists: defaultdict[str, list[str]] = defaultdict(list)
    extra_counts: list[int] = []
    for record in records:
        categories = list(dict.fromkeys((record.get("categories") or "").split()))
        if categories:
            primaries.append(categories[0])
            cross_lists[categories[0]].extend(categories[1:])
            extra_counts.append(min(len(categories) - 1, 4))
    return sorted(primaries), dict(cross_lists), sorted(extra_counts)


def _values(records: Iterable[dict[str, Any]], key: str) -> list[str]:
    return sorted({str(r[key]).strip() for r in records if r.get(key) and str(r[key]).strip()})


# --- writing and the command line ------------------------------------------------------------------


def write(records: Iterable[dict[str, Any]], out: Path) -> int:
    """Write records as JSON lines (gzip when `out` ends in .gz); returns how many were written."""
    written = 0
    with _open_out(out) as stream:
        for chunk in _json_chunks(records):
            stream.write(chunk[0])
            written += chunk[1]
    return written


def _json_chunks(records: Iterable[dict[str, Any]], size: int = 2000) -> Iterator[tuple[str, int]]:
    encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
    lines: list[str] = []
    for record in records:
        lines.append(encode(record))
        if len(lines) == size:
            yield "\n".join(lines) + "\n", len(lines)
            lines = []
    if lines:
        yield "\n".join(lines) + "\n", len(lines)


def _month_text(job: tuple[MonthPlan, int]) -> tuple[str, int]:
    """One month as JSON-lines text (run in a worker process)."""
    plan, seed = job
    lines = list(_json_chunks(generate_month(plan, seed), size=1 << 30))
    return (lines[0] if lines else ("", 0))


def write_parallel(count: int, seed: int, out: Path, workers: int) -> int:
    """Like `write(generate(count, seed), out)`, byte for byte, with months built in `workers` processes."""
    if workers <= 1:
        return write(generate(count, seed), out)
    from multiprocessing import get_context

    jobs = [(plan, seed) for plan in month_plans(count, seed)]
    written = 0
    with get_context("fork").Pool(workers) as pool, _open_out(out) as stream:
        for text, lines in pool.imap(_month_text, jobs):
            stream.write(text)
            written += lines
    return written


def _open_out(out: Path) -> IO[str]:
    if out.suffix == ".gz":
        return gzip.open(out, "wt", encoding="utf-8", compresslevel=1)
    return out.open("w", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write synthetic arXiv snapshot records as JSON lines; without --out, "
                    "measure how fast they are generated (what `make bench` runs).")
    parser.add_argument("--count", type=int, default=None,
                        help="Number of records (default: 100000 when measuring).")
    parser.add_argument("--seed", type=int, default=0, help="Random seed: same count and seed, same file.")
    parser.add_argument("--out", type=Path, help="Output .jsonl or .jsonl.gz file.")
    parser.add_argument("--workers", type=int, default=1,
                        help="Processes building months in parallel (the output is the same).")
    args = parser.parse_args(argv)
    if args.out is None:
        print(json.dumps(measure(args.count or 100_000, args.seed)))
        return 0
    if args.count is None or args.count < 0:
        parser.error("--count N (N >= 0) is required with --out")
    started = time.perf_counter()
    load_pools(args.seed)  # built once here, inherited by forked workers
    ready = time.perf_counter()
    written = write_parallel(args.count, args.seed, args.out, args.workers)
    seconds = time.perf_counter() - ready
    print(json.dumps({"benchmark": "synthetic.write", "records": written, "seed": args.seed,
                      "out": str(args.out), "bytes": args.out.stat().st_size, "workers": args.workers,
                      "setup_seconds": round(ready - started, 3), "seconds": round(seconds, 3),
                      "records_per_second": round(written / seconds) if seconds else None}))
    return 0


def measure(count: int, seed: int) -> dict[str, Any]:
    """Records per second generated in memory, and encoded as JSON lines, on one core."""
    started = time.perf_counter()
    load_pools(seed)
    setup = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    generated = sum(1 for _ in generate(count, seed))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    encoded = sum(lines for _, lines in _json_chunks(generate(count, seed)))
    encode_seconds = time.perf_counter() - started
    return {"benchmark": "synthetic", "records": generated, "seed": seed,
            "setup_seconds": round(setup, 3),
            "generate_seconds": round(seconds, 3), "records_per_second": round(generated / seconds),
            "records_per_cpu_second": round(generated / cpu_seconds),
            "generate_and_encode_seconds": round(encode_seconds, 3),
            "encoded_records_per_second": round(encoded / encode_seconds)}


if __name__ == "__main__":
    sys.exit(main())
