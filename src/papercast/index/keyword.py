"""BM25 keyword search over papers with tantivy, in a rebuildable index directory.

Queries are built programmatically from a `ParsedQuery` (user text never reaches tantivy's
query parser). Words are scored in `text` (title and abstract together) plus a bonus for a
match in the title, so title words weigh more; categories, years, authors and ids filter.
`index-state.json` beside the index records the last database change sequence it holds, so
a follower can continue from there. Files that tantivy cannot read (a deleted, truncated or
zeroed segment, a corrupted `meta.json`) raise `DamagedFiles` naming the directory, at opening
or at the search that meets them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import tantivy

from papercast.domain.papers import Paper
from papercast.domain.query import ParsedQuery, TextSegment, highlight, title_key
from papercast.index import durable
from papercast.index.durable import DamagedFiles

log = logging.getLogger("papercast.index.keyword")

SCHEMA_VERSION = 1
STATE_FILE = "index-state.json"
TEXT_ANALYZER = "papercast_en"
NAME_ANALYZER = "papercast_names"
KEYWORD_ANALYZER = "papercast_keyword"
MAX_QUERY_TOKENS = 128
MAX_QUERY_PAIRS = 16
# Function words dropped from free-text queries (not from phrases, not from the index): they
# match nearly every abstract. Lucene's English list plus question and auxiliary words, which
# natural-language queries are full of. Measured: +0.01 nDCG@10 on dev, Cranfield and CISI.
_STOPWORD_TEXT = """
a an and are as at be but by for if in into is it no not of on or such that the their then there
these they this to was will with what which who whom whose how when where why do does did can could
should would may might must shall from its has have had been being were than so we our us you your
i me my any all also about over under between through via using use used some other more most
"""
QUERY_STOPWORDS = tuple(_STOPWORD_TEXT.split())
_WRITER_HEAP = 64_000_000
_SORTS = ("relevance", "date")
_T = TypeVar("_T")
_FOOTED_FILE = re.compile(r"^[0-9a-f]{32}\.(?:\d+\.)?(idx|term|pos|store|fast|fieldnorm|del)$")
_FOOTER_MAGIC = 1337


@dataclass(frozen=True)
class KeywordWeights:
    """How much a match in each field counts (BM25 scores are multiplied by these).

    `text` holds title and abstract, so a title word scores in both fields. Measured on the demo
    corpus, Cranfield and CISI, one title+abstract field with a half-weight title field beat
    separate title and abstract fields at every title boost from 1 to 3.
    """

    text: float = 1.0
    title: float = 0.5
    # Pairs of adjacent query words found near each other (within `pair_slop` words) add this
    # much, a sequential-dependence bonus: "feature maps" beats "feature ... maps".
    pairs: float = 0.3
    pair_slop: int = 2


@dataclass(frozen=True)
class KeywordResults:
    """One page of hits, best first, and how many papers matched in all."""

    hits: list[tuple[str, float]]
    total: int


def _text_analyzer() -> tantivy.TextAnalyzer:
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(40)).filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold()).filter(tantivy.Filter.stemmer("english")).build())


def _query_analyzer() -> tantivy.TextAnalyzer:
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(40)).filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold()).filter(tantivy.Filter.custom_stopword(list(QUERY_STOPWORDS)))
            .filter(tantivy.Filter.stemmer("english")).build())


def _name_analyzer() -> tantivy.TextAnalyzer:
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.lowercase()).filter(tantivy.Filter.ascii_fold()).build())


def _keyword_analyzer() -> tantivy.TextAnalyzer:
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.raw()).filter(tantivy.Filter.lowercase()).build()


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("title", tokenizer_name=TEXT_ANALYZER, index_option="position")
    builder.add_text_field("title_key", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("text", tokenizer_name=TEXT_ANALYZER, index_option="position")
    builder.add_text_field("authors", tokenizer_name=NAME_ANALYZER, index_option="position")
    builder.add_text_field("categories", tokenizer_name=KEYWORD_ANALYZER, index_option="basic")
    builder.add_unsigned_field("year", indexed=True, fast=True)
    builder.add_unsigned_field("announced", indexed=False, fast=True)
    builder.add_unsigned_field("withdrawn", indexed=True, fast=True)
    return builder.build()


class TantivyKeywordIndex:
    """A tantivy index of papers; `directory=None` keeps it in memory (tests, benchmarks).

    An empty (or new) directory gets a new index; one that holds files must hold a readable
    index, else `DamagedFiles`. `problem` says why a readable index cannot be trusted to match
    its database (its state file is missing or of another schema), None when nothing is known
    against it."""

    def __init__(self, directory: Path | None = None, weights: KeywordWeights | None = None, *,
                 create: bool = True) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.weights = weights or KeywordWeights()
        self._schema = _schema()
        self._analyzer = _text_analyzer()
        self._query_analyzer = _query_analyzer()
        self._names = _name_analyzer()
        self._state = {"schema_version": SCHEMA_VERSION, "last_change_seq": 0}
        self.problem: str | None = None
        self._index = self._open(create)
        self._writer: tantivy.IndexWriter | None = None

    def _open(self, create: bool) -> tantivy.Index:
        if self.directory is None:
            index = tantivy.Index(self._schema)
        else:
            if create:
                self.directory.mkdir(parents=True, exist_ok=True)
            existing = self.directory.is_dir() and any(self.directory.iterdir())
            if not existing and not create:
                raise DamagedFiles(f"{self.directory}: holds no index")
            if existing and not (self.directory / "meta.json").exists():
                raise DamagedFiles(f"{self.directory}: tantivy's meta.json is missing")
            if existing:
                self._adopt_state()
            index = _tantivy_reads(self.directory, lambda: tantivy.Index(
                self._schema, path=str(self.directory), reuse=True))
            if not existing:
                self._write_state()  # a new index says at once which sequence it holds (none)
        index.register_tokenizer(TEXT_ANALYZER, _text_analyzer())
        index.register_tokenizer(NAME_ANALYZER, _name_analyzer())
        index.register_tokenizer(KEYWORD_ANALYZER, _keyword_analyzer())
        return index

    def _adopt_state(self) -> None:
        """Take the sequence from the state file; without a readable one the index is untrusted."""
        assert self.directory is not None
        try:
            state = self._read_state()
        except FileNotFoundError:
            self.problem = f"its state file {STATE_FILE} is missing"
            return
        except (OSError, ValueError) as error:
            self.problem = f"its state file {STATE_FILE} cannot be read ({error})"
            return
        self._state.update(state)
        if state.get("schema_version") != SCHEMA_VERSION:
            built = state.get("schema_version")
            self.problem = f"it was built for schema version {built}, not {SCHEMA_VERSION}"

    def _read_state(self) -> dict[str, int]:
        assert self.directory is not None
        state = json.loads((self.directory / STATE_FILE).read_text(encoding="utf-8"))
        if not isinstance(state, dict) or not isinstance(state.get("last_change_seq", 0), int):
            raise ValueError("not an object with an integer last_change_seq")
        return state

    def check_files(self) -> int:
        """Open the directory afresh, as another process would, and count its documents: raises
        `DamagedFiles` when what is on disk (not what this process has mapped) cannot be read."""
        if self.directory is None:
            return self.doc_count
        if not (self.directory / "meta.json").exists():
            raise DamagedFiles(f"{self.directory}: tantivy's meta.json is missing")
        fresh = _tantivy_reads(self.directory, lambda: tantivy.Index(self._schema, path=str(self.directory),
                                                                     reuse=True))
        return _tantivy_reads(self.directory, lambda: int(fresh.searcher().num_docs))

    def verify_checksums(self) -> None:
        """Read every file of the index and compare it with the CRC-32 in its tantivy footer (what
        tantivy itself checks only when asked): `DamagedFiles` names the first that differs."""
        if self.directory is None:
            return
        for path in sorted(self.directory.iterdir()):
            if _FOOTED_FILE.match(path.name):
                _check_footer_checksum(path)

    # -- writing -------------------------------------------------------------------------------

    @property
    def last_change_seq(self) -> int:
        """The database change sequence this index was last committed at (0 when new)."""
        return int(self._state.get("last_change_seq", 0))

    def add_or_replace(self, papers: Iterable[Paper]) -> int:
        """Index papers, replacing any earlier copy with the same id; visible after `commit`."""
        writer = self._writer_open()
        count = 0
        for paper in papers:
            writer.delete_documents_by_term("id", paper.paper_id)
            writer.add_document(self._document(paper))
            count += 1
        return count

    def delete(self, paper_ids: Iterable[str]) -> None:
        writer = self._writer_open()
        for paper_id in paper_ids:
            writer.delete_documents_by_term("id", paper_id)

    def commit(self, last_change_seq: int | None = None) -> None:
        """Publish pending changes; then record `last_change_seq` beside the index."""
        if self._writer is not None:
            self._writer.commit()
            self._writer.wait_merging_threads()
            self._writer = None
        self._index.reload()
        if last_change_seq is not None:
            self._state["last_change_seq"] = int(last_change_seq)
        self._write_state()

    def _write_state(self) -> None:
        if self.directory is not None:
            durable.write_json(self.directory / STATE_FILE, self._state)

    def _writer_open(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self._index.writer(heap_size=_WRITER_HEAP, num_threads=1)
        return self._writer

    def _document(self, paper: Paper) -> tantivy.Document:
        document = tantivy.Document()
        document.add_text("id", paper.paper_id)
        document.add_text("title", paper.title)
        document.add_text("title_key", title_key(paper.title))
        document.add_text("text", f"{paper.title}\n{paper.abstract}")
        for author in paper.authors:
            document.add_text("authors", author.name)
        for category in dict.fromkeys(_category_terms(paper.categories)):
            document.add_text("categories", category)
        published = paper.announced_on or _first_version_date(paper)
        if published is not None:
            document.add_unsigned("year", published.year)
        document.add_unsigned("announced", published.toordinal() if published else 0)
        document.add_unsigned("withdrawn", int(paper.withdrawn))
        return document

    # -- reading -------------------------------------------------------------------------------

    @property
    def doc_count(self) -> int:
        return self._reads(lambda: int(self._index.searcher().num_docs))

    def refresh(self) -> None:
        """See what another process committed since this one opened the index."""
        self._reads(self._index.reload)
        if self.directory is not None:
            try:
                self._state.update(self._read_state())
            except (OSError, ValueError):  # mid-replace or gone: the sequence read before stands
                log.debug("index.keyword.state_unreadable directory=%s", self.directory)

    def _reads(self, read: Callable[[], _T]) -> _T:
        return _tantivy_reads(self.directory, read)

    def search(self, parsed: ParsedQuery, limit: int = 10, offset: int = 0,
               sort: str = "relevance") -> KeywordResults:
        """Papers matching `parsed`, best BM25 score first (or newest first with sort="date").

        A query with filters or exclusions but no text matches every paper they allow and
        is ordered by date.
        """
        if sort not in _SORTS:
            raise ValueError(f"unknown sort {sort!r}")
        query = self.build_query(parsed)
        if query is None or limit <= 0:
            return KeywordResults([], 0)
        by_date = sort == "date" or not parsed.has_text

        def run() -> KeywordResults:
            searcher = self._index.searcher()
            result = searcher.search(query, limit=limit, offset=max(0, offset), count=True,
                                     order_by_field="announced" if by_date else None)
            hits = [(_paper_id(searcher, address), 0.0 if by_date else float(key))
                    for key, address in result.hits]
            # tantivy's stub lacks `count`, which `search(count=True)` fills in
            return KeywordResults(hits, int(result.count or 0))  # type: ignore[attr-defined]

        return self._reads(run)

    def filter_ids(self, parsed: ParsedQuery, paper_ids: Sequence[str]) -> set[str]:
        """Those of `paper_ids` that the query's phrases, filters and exclusions allow.

        Free-text words do not restrict (they only rank), so semantic candidates that share no
        word with the query pass.
        """
        if not paper_ids:
            return set()
        restriction = self.build_query(parsed, with_terms=False)
        candidates = tantivy.Query.term_set_query(self._schema, "id", list(dict.fromkeys(paper_ids)))
        query = candidates if restriction is None else tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, candidates), (tantivy.Occur.Must, _unscored(restriction))])
        return set(self._ids_of(query, len(paper_ids)))

    def matching(self, parsed: ParsedQuery, paper_ids: Sequence[str], limit: int) -> list[str]:
        """Those of `paper_ids` that have every word of the query (in title or abstract) and pass
        its phrases, filters and exclusions, best BM25 score first: a saved search's new papers
        (the digest), where a paper with one word of three is not news about the topic."""
        if not paper_ids or parsed.is_empty:
            return []
        clauses = [(tantivy.Occur.Must, tantivy.Query.term_set_query(self._schema, "id",
                                                                     list(dict.fromkeys(paper_ids))))]
        w = self.weights
        for token in list(dict.fromkeys(self.query_tokens(parsed.terms)))[:MAX_QUERY_TOKENS]:
            should = tantivy.Occur.Should
            either = tantivy.Query.boolean_query([(should, self._boosted("text", token, w.text)),
                                                  (should, self._boosted("title", token, w.title))])
            clauses.append((tantivy.Occur.Must, either))
        restriction = self.build_query(parsed, with_terms=False)
        if restriction is not None:
            clauses.append((tantivy.Occur.Must, restriction))
        return self._ids_of(tantivy.Query.boolean_query(clauses), limit)

    def pinned_ids(self, parsed: ParsedQuery) -> list[str]:
        """Papers the query names exactly: arXiv ids typed as text, then an exact title match."""
        pinned: list[str] = []
        if parsed.mentioned_ids:
            query = tantivy.Query.term_set_query(self._schema, "id", list(parsed.mentioned_ids))
            found = set(self._ids_of(query, len(parsed.mentioned_ids)))
            pinned.extend(paper_id for paper_id in parsed.mentioned_ids if paper_id in found)
        key = title_key(parsed.text)
        if len(key) >= 8 and " " in key:
            query = tantivy.Query.term_query(self._schema, "title_key", key)
            restriction = self.build_query(parsed, with_terms=False)
            if restriction is not None:
                query = tantivy.Query.boolean_query(
                    [(tantivy.Occur.Must, query), (tantivy.Occur.Must, _unscored(restriction))])
            pinned.extend(sorted(self._ids_of(query, 5)))
        return list(dict.fromkeys(pinned))

    def _ids_of(self, query: tantivy.Query, limit: int) -> list[str]:
        def run() -> list[str]:
            searcher = self._index.searcher()
            result = searcher.search(query, limit=max(1, limit), count=False)
            return [_paper_id(searcher, address) for _, address in result.hits]

        return self._reads(run)

    def build_query(self, parsed: ParsedQuery, with_terms: bool = True) -> tantivy.Query | None:
        """The tantivy query for `parsed`; `None` when it asks for nothing at all.

        Without `with_terms`, only the phrases, filters and exclusions (`None` when there are none).
        """
        if parsed.is_empty:
            return None
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        text = self._text_query(parsed.terms) if with_terms else None
        if text is not None:
            clauses.append((tantivy.Occur.Must, text))
        for phrase in parsed.phrases:
            clauses.append((tantivy.Occur.Must, self._phrase_query(phrase)))
        clauses.extend((tantivy.Occur.Must, _unscored(q)) for q in self._filters(parsed))
        for term in parsed.excluded_terms:
            clauses.extend((tantivy.Occur.MustNot, q) for q in self._token_queries(term))
        for phrase in parsed.excluded_phrases:
            clauses.append((tantivy.Occur.MustNot, self._phrase_query(phrase)))
        for author in parsed.excluded_authors:
            clauses.append((tantivy.Occur.MustNot, self._author_query(author)))
        for category in parsed.excluded_categories:
            clauses.append((tantivy.Occur.MustNot, self._category_query(category)))
        if not clauses:
            return None
        if not any(occur == tantivy.Occur.Must for occur, _ in clauses):
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(clauses)

    def query_tokens(self, terms: Sequence[str]) -> list[str]:
        """The analysed free-text words of a query, function words dropped unless nothing else is left."""
        text = " ".join(terms)
        return list(self._query_analyzer.analyze(text)) or self.analyze(text)

    def _text_query(self, terms: Sequence[str]) -> tantivy.Query | None:
        sequence = self.query_tokens(terms)
        tokens = list(dict.fromkeys(sequence))[:MAX_QUERY_TOKENS]
        if not tokens:
            return None
        w = self.weights
        shoulds = []
        for token in tokens:
            shoulds.append((tantivy.Occur.Should, self._boosted("text", token, w.text)))
            shoulds.append((tantivy.Occur.Should, self._boosted("title", token, w.title)))
        if w.pairs > 0:
            pairs = [(a, b) for a, b in zip(sequence, sequence[1:], strict=False) if a != b]
            for pair in list(dict.fromkeys(pairs))[:MAX_QUERY_PAIRS]:
                near = tantivy.Query.phrase_query(self._schema, "text", list(pair), slop=w.pair_slop)
                shoulds.append((tantivy.Occur.Should, tantivy.Query.boost_query(near, w.pairs)))
        return tantivy.Query.boolean_query(shoulds)

    def _boosted(self, field: str, token: str, boost: float) -> tantivy.Query:
        query = tantivy.Query.term_query(self._schema, field, token)
        return query if boost == 1.0 else tantivy.Query.boost_query(query, boost)

    def _phrase_query(self, phrase: str) -> tantivy.Query:
        """The phrase in title or abstract (stemmed: `neural network` finds `neural networks`)."""
        tokens = self.analyze(phrase)
        if not tokens:
            return tantivy.Query.empty_query()
        words: list[str | tuple[int, str]] = [*tokens]
        per_field = []
        for field, boost in (("text", self.weights.text), ("title", self.weights.title)):
            if len(tokens) == 1:
                query = tantivy.Query.term_query(self._schema, field, tokens[0])
            else:
                query = tantivy.Query.phrase_query(self._schema, field, words)
            per_field.append((tantivy.Occur.Should, tantivy.Query.boost_query(query, boost)))
        return tantivy.Query.boolean_query(per_field)

    def _token_queries(self, term: str) -> list[tantivy.Query]:
        return [tantivy.Query.term_query(self._schema, field, token)
                for token in self.analyze(term) for field in ("text",)]

    def _filters(self, parsed: ParsedQuery) -> list[tantivy.Query]:
        filters = [self._author_query(author) for author in parsed.authors]
        if parsed.categories:
            filters.append(tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, self._category_query(c)) for c in parsed.categories]))
        if parsed.years is not None:
            filters.append(tantivy.Query.range_query(
                self._schema, "year", tantivy.FieldType.Unsigned,
                lower_bound=parsed.years.first, upper_bound=parsed.years.last))
        if parsed.paper_ids:
            filters.append(tantivy.Query.term_set_query(self._schema, "id", list(parsed.paper_ids)))
        return filters

    def _author_query(self, author: str) -> tantivy.Query:
        """Every word of the name among the paper's authors (`hinton`, `geoffrey hinton`)."""
        tokens = self._names.analyze(author)
        if not tokens:
            return tantivy.Query.empty_query()
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, tantivy.Query.term_query(self._schema, "authors", t)) for t in tokens])

    def _category_query(self, category: str) -> tantivy.Query:
        return tantivy.Query.term_query(self._schema, "categories", category.lower())

    # -- text analysis and highlights ----------------------------------------------------------

    def analyze(self, text: str) -> list[str]:
        """The index terms of `text`: lowercased, accents folded, English-stemmed."""
        return list(self._analyzer.analyze(text))

    def highlight(self, text: str, parsed: ParsedQuery,
                  max_chars: int | None = None) -> tuple[TextSegment, ...]:
        """`text` split into segments, words matching the query's terms or phrases marked."""
        wanted = set(self.analyze(" ".join((*parsed.terms, *parsed.phrases))))
        if not wanted or not text:
            return highlight(text, [], max_chars)
        spans = [(token.char_offset_from, token.char_offset_to)
                 for token in self._analyzer.pre_tokenize(text).tokens if token.text in wanted]
        return highlight(text, spans, max_chars)


def _tantivy_reads(directory: Path | None, read: Callable[[], _T]) -> _T:
    """Run a tantivy read; what tantivy reports about unreadable files becomes `DamagedFiles`.

    tantivy raises ValueError for files it cannot read and, for some damaged ones, a Rust panic,
    which pyo3 raises as `PanicException`, a BaseException: caught by name, the rest passes."""
    where = directory if directory is not None else "the in-memory keyword index"
    try:
        return read()
    except ValueError as error:
        raise DamagedFiles(f"{where}: {_first_line(error)}") from error
    except BaseException as error:
        if type(error).__name__ != "PanicException":
            raise
        raise DamagedFiles(f"{where}: tantivy failed reading it ({_first_line(error)})") from error


def _check_footer_checksum(path: Path) -> None:
    """tantivy ends each segment file with a JSON footer holding the CRC-32 of the bytes before
    it, then the footer's length and the magic number 1337 (both u32, little-endian)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            if size < 8:
                raise DamagedFiles(f"{path}: too short to be a tantivy file")
            handle.seek(size - 8)
            footer_length, magic = struct.unpack("<II", handle.read(8))
            if magic != _FOOTER_MAGIC or footer_length > size - 8:
                raise DamagedFiles(f"{path}: no tantivy footer (truncated or overwritten)")
            body = size - 8 - footer_length
            handle.seek(body)
            expected = json.loads(handle.read(footer_length))["crc"]
            handle.seek(0)
            crc, left = 0, body
            while left:
                chunk = handle.read(min(left, 1 << 24))
                crc, left = zlib.crc32(chunk, crc), left - len(chunk)
    except DamagedFiles:
        raise
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DamagedFiles(f"{path}: cannot be checked ({error})") from error
    if crc != expected:
        raise DamagedFiles(f"{path}: its checksum does not match (the file was damaged)")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def _paper_id(searcher: tantivy.Searcher, address: tantivy.DocAddress) -> str:
    """The id stored with a hit (every document has one; tantivy types stored values loosely)."""
    return str(searcher.doc(address).get_first("id"))


def _unscored(query: tantivy.Query) -> tantivy.Query:
    """A filter: it must match but adds nothing to the score."""
    return tantivy.Query.const_score_query(query, 0.0)


def _category_terms(categories: Sequence[str]) -> list[str]:
    """Each category, and its archive (`cs` for `cs.LG`) so that `cat:cs` finds all of cs.*."""
    terms = []
    for category in categories:
        lowered = category.lower()
        terms.append(lowered)
        if "." in lowered:
            terms.append(lowered.split(".", 1)[0])
    return terms


def _first_version_date(paper: Paper) -> date | None:
    dated = [v.submitted_at for v in paper.versions if v.submitted_at is not None]
    return min(dated).date() if dated else None
