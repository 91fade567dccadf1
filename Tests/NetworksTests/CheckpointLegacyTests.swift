import Foundation
import XCTest

@testable import Networks

/// The legacy (pre-1.6, non-zip) `torch.save` format (torch/serialization.py `_legacy_save`/`_legacy_load`), as
/// RepDistiller's published teachers use it. The fixtures (scripts/make-checkpoint-fixtures.py) hold the same
/// tensors as their zip twins, so the two readers must agree bit for bit; hostile variants must be refused.
final class CheckpointLegacyTests: XCTestCase {
    private func load(_ name: String) throws -> StateDict {
        try StateDict.load(contentsOf: CheckpointFixtureTests.fixture(name))
    }

    private func assertSameTensors(_ a: StateDict, _ b: StateDict, _ context: String) {
        XCTAssertEqual(a.names, b.names, context)
        XCTAssertEqual(a.entries.map(\.dtype), b.entries.map(\.dtype), context)
        for (x, y) in zip(a.entries, b.entries) {
            XCTAssertEqual(x.tensor.shape, y.tensor.shape, "\(context): \(x.name)")
            XCTAssertEqual(x.tensor.data.map(\.bitPattern), y.tensor.data.map(\.bitPattern), "\(context): \(x.name)")
        }
    }

    func testLegacyFilesLoadBitForBitLikeTheirZipTwins() throws {
        let twins = [
            ("legacy.pth", "tiny_bare.pth"), ("legacy_proto4.pth", "tiny_proto4.pth"),
            ("legacy_dtypes.pth", "dtypes.pth"), ("legacy_noncontiguous.pth", "noncontiguous.pth"),
            ("legacy_f64.pth", "tiny_f64.pth"), ("legacy_repdistiller.pth", "tiny_repdistiller.pth"),
        ]
        for (legacy, zip) in twins {
            let old = try load(legacy)
            let new = try load(zip)
            XCTAssertGreaterThan(old.count, 0, legacy)
            assertSameTensors(old, new, legacy)
        }
        XCTAssertEqual(try load("legacy.pth")["bn1.running_var"]?.data, [1.5, 0.75, 1.125, 0.875])
        XCTAssertEqual(try load("legacy_dtypes.pth")["i32"]?.data, [-7, 0, 2_147_483_647])
        XCTAssertEqual(
            try load("legacy_noncontiguous.pth")["sliced"]?.data,
            [6, 8, 10, 12, 14, 16, 18, 20, 22].map { Float($0) / 4 })
    }

    func testRepDistillerEpochCheckpointTakesModelAndKeepsEpochAndAccuracy() throws {
        let state = try load("legacy_repdistiller.pth")  // {'epoch', 'model', 'accuracy': tensor, 'optimizer'}
        CheckpointFixtureTests.assertTinyRepDistillerModel(state, metadata: ["epoch": "240", "accuracy": "93.75"])
        XCTAssertEqual(state["fc.bias"]?.data, [0.5, -1.5, 3.0e-3])
    }

    func testFormatIsDetectedByItsFirstBytesNotTheExtension() throws {
        let bytes = try [UInt8](Data(contentsOf: CheckpointFixtureTests.fixture("legacy_proto4.pth")))
        XCTAssertEqual(Array(bytes.prefix(3)), [0x80, 0x04, 0x95])  // protocol 4: a FRAME before the magic number
        let state = try StateDict.decode(bytes, path: "teacher.safetensors")
        assertSameTensors(state, try load("tiny_proto4.pth"), "legacy_proto4.pth as .safetensors")
    }

    func testStorageViewsOfOldFilesAreHonoured() throws {
        // view_metadata ('1', 2, 3) of a 6-element root [0 ... 5], the tensor 2 elements from offset 1 (torch: [3, 4])
        XCTAssertEqual(try load("legacy_storage_view.pth")["v"]?.data, [3, 4])
    }

    /// The error for a fixture, and its message without the path.
    private func refusal(_ name: String) throws -> (CheckpointError, String) {
        let url = try CheckpointFixtureTests.fixture(name)
        do {
            _ = try StateDict.load(contentsOf: url)
        } catch let error as CheckpointError {
            let text = error.description
            XCTAssertTrue(text.hasPrefix(url.path + ": "), text)
            return (error, String(text.dropFirst(url.path.count + 2)))
        }
        XCTFail("\(name) loaded")
        return (.missingArchitecture(path: ""), "")
    }

    private func assertMatches(_ text: String, _ pattern: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotNil(text.range(of: "^" + pattern + "$", options: .regularExpression), text, file: file, line: line)
    }

    func testHostileLegacyFilesAreRefusedClearly() throws {
        var (error, text) = try refusal("legacy_bad_truncated.pth")
        guard case .truncated = error else { return XCTFail("\(error)") }
        assertMatches(
            text,
            "file is truncated: storage '[0-9]+' says [0-9]+ elements of [48] bytes at byte 18[0-9]{2},"
                + " [0-9]+ bytes are left")
        (error, text) = try refusal("legacy_bad_huge_count.pth")
        guard case .truncated = error else { return XCTFail("\(error)") }
        assertMatches(
            text,
            "file is truncated: storage '[0-9]+' says 1099511627776 elements of [48] bytes at byte"
                + " [0-9]+, [0-9]+ bytes are left")
        (error, text) = try refusal("legacy_bad_duplicate_key.pth")
        assertMatches(text, "bad legacy torch.save file: storage '[0-9]+' is written twice")
        (error, text) = try refusal("legacy_bad_unwritten_key.pth")
        assertMatches(text, "bad legacy torch.save file: storage '[0-9]+' is referenced but its data is never written")
        (error, text) = try refusal("legacy_bad_unreferenced_key.pth")
        assertMatches(
            text,
            "bad legacy torch.save file: storage '999' is written but the saved object never"
                + " references it")
        (error, text) = try refusal("legacy_bad_trailing.pth")
        assertMatches(text, "bad legacy torch.save file: 4 bytes follow the last storage \\(at byte 1850\\)")
        (error, text) = try refusal("legacy_bad_big_endian.pth")
        XCTAssertEqual(
            text,
            "not a checkpoint sskd can read: big-endian legacy torch.save files are not supported;"
                + " load and re-save it with torch.save on a little-endian machine")
        (error, text) = try refusal("legacy_bad_unknown_type.pth")
        assertMatches(
            text,
            "bad legacy torch.save file: storage '[0-9]+' has the unknown type"
                + " 'torch.Fl\\\\u\\{1b\\}atStorage', whose element size \\(so where the next storage starts\\)"
                + " sskd does not know")
        XCTAssertFalse(text.contains("\u{1b}"))
    }

    func testOtherPicklesAndTarArchivesAreExplained() throws {
        XCTAssertThrowsError(try StateDict.decode([0x80, 0x02, 0x7D, 0x2E], path: "p.pkl")) { error in
            XCTAssertEqual(
                "\(error)",
                "p.pkl: not a checkpoint sskd can read: a pickle without torch.save's magic"
                    + " number (torch.save files are zip archives, or, before PyTorch 1.6, start with the"
                    + " magic number)")
        }
        var tar = [UInt8]("storages".utf8) + [UInt8](repeating: 0, count: 504)
        tar.replaceSubrange(257..<263, with: Array("ustar\0".utf8))
        XCTAssertThrowsError(try StateDict.decode(tar, path: "old.pth")) { error in
            XCTAssertEqual(
                "\(error)",
                "old.pth: not a checkpoint sskd can read: tar archive (the torch.save format"
                    + " of PyTorch < 0.4); load it with torch.load and re-save it with torch.save(obj, path)")
        }
    }

    func testWrongProtocolVersionAndMalformedPicklesNameThePart() throws {
        var bytes = try [UInt8](Data(contentsOf: CheckpointFixtureTests.fixture("legacy.pth")))
        XCTAssertEqual(Array(bytes[15...20]), [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E])  // BININT2 1001
        bytes[18] = 0xEA  // 1002
        XCTAssertThrowsError(try StateDict.decode(bytes, path: "v.pth")) { error in
            XCTAssertEqual(
                "\(error)",
                "v.pth: bad legacy torch.save file: protocol version is not 1001 (the only one"
                    + " torch.save wrote)")
        }
        bytes[18] = 0xE9
        bytes[17] = 0xFF  // not an opcode
        XCTAssertThrowsError(try StateDict.decode(bytes, path: "o.pth")) { error in
            XCTAssertEqual(
                "\(error)",
                "o.pth: bad legacy torch.save file: unsupported pickle opcode 0xff at byte 17,"
                    + " in the protocol version")
        }
        let cut = Array(try [UInt8](Data(contentsOf: CheckpointFixtureTests.fixture("legacy.pth"))).prefix(300))
        XCTAssertThrowsError(try StateDict.decode(cut, path: "c.pth")) { error in
            XCTAssertTrue(
                "\(error)".hasPrefix("c.pth: bad legacy torch.save file: malformed pickle at byte "),
                "\(error)")
            XCTAssertTrue("\(error)".contains(", in the saved object: the file ends inside an opcode"), "\(error)")
        }
    }
}
