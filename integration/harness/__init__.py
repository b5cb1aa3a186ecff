"""nixos2docker integration harness (see integration/README.md).

Modules:
  util      subprocess helpers with timeouts, logging
  registry  the pluggable scenario / image-kind registry (documented API)
  daemon    find or start a Docker daemon with cgroup v2
  images    cached mmdebstrap root filesystems and test images
  docker    container helpers used by scenarios (boot, stop, exec, CapEff)
  report    results, summary table, JSON file
  fixtures  --capture-fixtures
  cli       argument parsing and the main loop
"""
