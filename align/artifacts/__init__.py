"""The artifact folders stages hand each other: the manifest contract, run-folder reading and file checksums."""
