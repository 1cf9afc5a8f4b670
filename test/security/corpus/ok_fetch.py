# expect: ok
r = go_to('shelf A')
boxes = perceive()
print(r.arrived, [b.color for b in boxes])
