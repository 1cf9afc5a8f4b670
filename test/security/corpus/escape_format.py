# expect: rejected
fmt = '{0.__init__.__globals__}'
print(fmt.format(get_pose))
