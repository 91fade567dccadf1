import XCTest
@testable import Distillation
