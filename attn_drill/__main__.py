from __future__ import annotations

from attn_drill.cli import main

if __name__ == "__main__":
    main()
