import sys

from mlstack_env.cli import main

sys.exit(main())
