# expect: violation
move_to(4.5, 0.0)
