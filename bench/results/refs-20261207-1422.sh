#!/usr/bin/env bash
# Twenty-first VM, 2026-12-07: the engine sustained 112/s and refused at 120/s; bare pjsua2
# completed all but one aborted process's calls at 112 and 128/s. The references alone higher
# up, to bound the engine's share, then the controller's profile again (now over the calls
# only), at the commit of this script, nothing else running.
set -u
cd "$(dirname "$0")/../.."
.venv/bin/python bench/load_bench.py rate --refs-only --rates 136 144 152 --seconds 60 | tail -1
.venv/bin/python bench/controller_profile.py --rate 100 --seconds 30 | tail -1
