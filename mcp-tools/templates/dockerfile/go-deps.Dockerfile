# The module files first: the dependency download is a layer of its own, rebuilt only when
# they change.
{copies}