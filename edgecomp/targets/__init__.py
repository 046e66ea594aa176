"""Target adapters: where an artifact is benchmarked (this host, a board over SSH, a phone over adb)."""
