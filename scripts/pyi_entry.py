"""The frozen app's entry script (PyInstaller runs it as __main__).

digitpad/__main__.py uses package-relative imports, so the bundle starts here and calls its
main(), which runs multiprocessing.freeze_support() before anything else.
"""

import sys

from digitpad.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
