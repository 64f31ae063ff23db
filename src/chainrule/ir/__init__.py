"""Program representation, printer and optimisation passes."""
