import XCTest

@testable import Storage

/// `counted`: "1 stage", never "1 stages".
final class CountingTests: XCTestCase {
    func testSingularOnlyForOne() {
        XCTAssertEqual(counted(1, "stage"), "1 stage")
        XCTAssertEqual(counted(0, "stage"), "0 stages")
        XCTAssertEqual(counted(3, "run"), "3 runs")
        XCTAssertEqual(counted(-1, "step"), "-1 steps")
        XCTAssertEqual(counted(2, "class"), "2 classes")
        XCTAssertEqual(counted(4, "batch"), "4 batches")
        XCTAssertEqual(counted(1, "batch"), "1 batch")
        XCTAssertEqual(counted(2, "index", plural: "indices"), "2 indices")
        XCTAssertEqual(counted(1, "index", plural: "indices"), "1 index")
    }
}
