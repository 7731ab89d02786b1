# SPDX-License-Identifier: Apache-2.0
import sys

from sidecar.cli import main

sys.exit(main())
