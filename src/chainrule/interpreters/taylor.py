"""Taylor mode (jet) — being written."""


def jet(f, primals, series):
    raise NotImplementedError("jet is not implemented yet")


def derivative(f, order=1):
    raise NotImplementedError("derivative is not implemented yet")


def taylor_coefficients(f, x, order):
    raise NotImplementedError("taylor_coefficients is not implemented yet")
