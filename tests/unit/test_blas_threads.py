"""Importing papercast makes one BLAS thread the default, and an operator's setting wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = ("import os, json, papercast, numpy, scipy.optimize\n"
         "from threadpoolctl import threadpool_info\n"
         "blas = [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']\n"
         "print(json.dumps({'env': os.environ.get('OPENBLAS_NUM_THREADS'), 'threads': blas}))")


def probe(**env: str) -> dict[str, object]:
    environment = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True,
                          check=True)
    return dict(json.loads(done.stdout))


def test_numpy_and_scipy_load_openblas_with_one_thread_after_papercast() -> None:
    seen = probe()
    assert seen["env"] == "1"
    assert seen["threads"] and set(seen["threads"]) == {1}  # type: ignore[arg-type]


def test_the_operators_setting_is_kept() -> None:
    assert probe(OPENBLAS_NUM_THREADS="3")["env"] == "3"
