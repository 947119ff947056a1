"""`python -m electroloop.cli`: what tests and benchmarks start as a subprocess, with no
console script needed."""

import sys

from electroloop.cli import main

sys.exit(main())
