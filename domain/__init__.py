"""Pure business rules of salesync: values and functions, standard library only."""
