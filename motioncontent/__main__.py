"""`python -m motioncontent ...` is the `motioncontent` command (Lightning's DDP launcher re-runs it per rank)."""

from motioncontent.cli import main

if __name__ == "__main__":
    main()
