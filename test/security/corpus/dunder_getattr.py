# expect: error
g = getattr(get_pose, '__glo' + 'bals__')
print(g)
