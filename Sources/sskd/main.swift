import Interpreter
print("sskd")
