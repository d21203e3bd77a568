"""``python -m memcircuit``: the command line (the same as the ``memcircuit`` command)."""

from memcircuit.cli import main

if __name__ == "__main__":
    main()
