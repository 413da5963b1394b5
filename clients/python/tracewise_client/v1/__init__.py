"""Generated from protos/tracewise/v1 by scripts/gen_protos.py."""
