"""papercast: a self-hostable research-paper discovery service.

Importing papercast makes one BLAS thread the default (`OPENBLAS_NUM_THREADS=1` unless the
environment sets it), before numpy loads OpenBLAS: papercast's matrix work is small (a reader's
fit is a few hundred 384-wide rows, a request one matrix-vector product) and runs beside other
processes, where BLAS threads competing for cores made a fit cost ten times the CPU
(docs/operations.md, "Recommendations"). It takes effect only where papercast is imported
before numpy, as every `papercast` command and server process does.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
