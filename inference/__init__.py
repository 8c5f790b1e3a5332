"""Models and their input: typed contracts, the model store, preprocessing, box detection, square crops."""
