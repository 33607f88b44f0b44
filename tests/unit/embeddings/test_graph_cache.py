"""The cache of built ONNX graphs: only a graph its manifest vouches for is used; anything else is rebuilt."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from papercast.embeddings.graph_cache import GraphCache, GraphKey

KEY = GraphKey("int8", 2, "53aa5117" + "0" * 56, {"onnxruntime": "1.32.0", "torch": "2.13.0"})
GRAPH = bytes(range(256)) * 64


class CountingBuilder:
    def __init__(self, graph: bytes = GRAPH) -> None:
        self.graph = graph
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.graph


def test_a_stored_graph_is_verified_and_reused_without_building(tmp_path: Path) -> None:
    cache = GraphCache(tmp_path)
    path = cache.store(KEY, GRAPH)
    assert cache.verified(KEY) == path and path.read_bytes() == GRAPH
    manifest = json.loads(cache.manifest_path(KEY).read_text())
    assert manifest["size"] == len(GRAPH) and manifest["key"]["versions"]["onnxruntime"] == "1.32.0"
    build = CountingBuilder()
    assert cache.ensure(KEY, build) == path and build.calls == 0


def test_a_missing_graph_is_built_once(tmp_path: Path) -> None:
    cache, build = GraphCache(tmp_path / "new"), CountingBuilder()
    assert cache.verified(KEY) is None
    path = cache.ensure(KEY, build)
    assert cache.ensure(KEY, build) == path and build.calls == 1


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def _zero(path: Path) -> None:
    path.write_bytes(bytes(path.stat().st_size))


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def _delete(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("damage", [_truncate, _zero, _flip_last_byte, _delete],
                         ids=["truncated", "zeroed", "one-byte", "deleted"])
def test_a_damaged_graph_is_never_trusted_and_is_rebuilt(tmp_path: Path, damage: object) -> None:
    cache = GraphCache(tmp_path)
    path = cache.store(KEY, GRAPH)
    damage(path)  # type: ignore[operator]
    assert cache.verified(KEY) is None
    build = CountingBuilder()
    assert cache.ensure(KEY, build).read_bytes() == GRAPH and build.calls == 1
    assert cache.verified(KEY) == path


@pytest.mark.parametrize("manifest_damage", [
    lambda text: "",                                                # zeroed / truncated to nothing
    lambda text: text[: len(text) // 2],                            # truncated JSON
    lambda text: text.replace(KEY.model_sha256, "f" * 64),          # another model's graph
    lambda text: text.replace('"1.32.0"', '"1.31.0"'),              # built by another onnxruntime
    lambda text: text.replace('"sha256": "', '"sha256": "0'),       # a digest that is not the file's
    lambda text: text.replace('"format": 1', '"format": 99'),
], ids=["empty", "truncated", "other-model", "other-version", "wrong-digest", "unknown-format"])
def test_a_graph_whose_manifest_does_not_vouch_for_it_is_rebuilt(tmp_path: Path,
                                                                  manifest_damage: object) -> None:
    cache = GraphCache(tmp_path)
    cache.store(KEY, GRAPH)
    manifest = cache.manifest_path(KEY)
    manifest.write_text(manifest_damage(manifest.read_text()))  # type: ignore[operator]
    assert cache.verified(KEY) is None
    build = CountingBuilder()
    cache.ensure(KEY, build)
    assert build.calls == 1 and cache.verified(KEY) is not None


def test_a_graph_left_without_its_manifest_by_a_crash_is_rebuilt(tmp_path: Path) -> None:
    cache = GraphCache(tmp_path)
    cache.store(KEY, GRAPH)
    cache.manifest_path(KEY).unlink()
    leftover = tmp_path / f"{KEY.name}.onnx.tmp-12345"  # a builder killed while writing
    leftover.write_bytes(b"half")
    assert cache.verified(KEY) is None
    cache.ensure(KEY, CountingBuilder())
    assert cache.verified(KEY) is not None and not leftover.exists()


def test_force_rebuilds_a_verified_graph(tmp_path: Path) -> None:
    cache = GraphCache(tmp_path)
    cache.store(KEY, b"an old graph")
    build = CountingBuilder()
    assert cache.ensure(KEY, build, force=True).read_bytes() == GRAPH and build.calls == 1


def test_a_failed_build_leaves_nothing_to_trust(tmp_path: Path) -> None:
    cache = GraphCache(tmp_path)
    cache.store(KEY, b"damaged")
    _zero(cache.graph_path(KEY))

    def failing() -> bytes:
        raise RuntimeError("exporter crashed")

    with pytest.raises(RuntimeError, match="exporter crashed"):
        cache.ensure(KEY, failing)
    assert cache.verified(KEY) is None and not cache.graph_path(KEY).exists()


def test_keys_differ_by_precision_recipe_model_and_library_versions() -> None:
    names = {KEY.name,
             GraphKey("fp32", KEY.recipe, KEY.model_sha256, KEY.versions).name,
             GraphKey(KEY.precision, 3, KEY.model_sha256, KEY.versions).name,
             GraphKey(KEY.precision, KEY.recipe, "0" * 64, KEY.versions).name,
             GraphKey(KEY.precision, KEY.recipe, KEY.model_sha256, {**KEY.versions, "torch": "2.14.0"}).name}
    assert len(names) == 5


def test_a_second_builder_waits_for_the_first_and_uses_its_graph(tmp_path: Path) -> None:
    cache = GraphCache(tmp_path)
    build = CountingBuilder()
    started = threading.Event()

    def second() -> None:
        started.set()
        GraphCache(tmp_path).ensure(KEY, build)

    with cache.build_lock():  # the first builder, in another process as far as the lock can tell
        waiter = threading.Thread(target=second)
        waiter.start()
        started.wait()
        waiter.join(timeout=1.0)
        assert waiter.is_alive(), "the second builder did not wait for the lock"
        cache.store(KEY, GRAPH)
    waiter.join()
    assert build.calls == 0


def test_a_graph_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    from papercast.embeddings.errors import EmbedderUnavailable
    from papercast.embeddings.onnx_graph import build_in_child

    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    with pytest.raises(EmbedderUnavailable, match="cannot create the ONNX graph folder"):
        build_in_child(tmp_path / "model", blocker / "embeddings" / "onnx", "fp32")
