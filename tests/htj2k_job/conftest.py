"""In-process sessions start Python workers with PYSPARK_PYTHON (else `python3` from PATH, which may lack
medlake); point it at this interpreter before the session fixture builds the session."""

import os
import sys

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
