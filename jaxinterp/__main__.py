import sys

from jaxinterp.cli import main

sys.exit(main())
