"""The Holoscan operators only: each receives a study, calls plain functions from the other packages, emits it."""
