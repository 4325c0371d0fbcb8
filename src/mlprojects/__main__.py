"""``python -m mlprojects`` — the same CLI; ``torchrun -m mlprojects run ...`` uses this entry."""

from mlprojects.cli import main

if __name__ == "__main__":
    main()
