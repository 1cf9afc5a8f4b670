# expect: timeout
x = 9 ** 9 ** 9
