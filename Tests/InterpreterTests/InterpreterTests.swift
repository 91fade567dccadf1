import XCTest
@testable import Interpreter
