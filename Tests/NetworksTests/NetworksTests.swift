import XCTest
@testable import Networks
