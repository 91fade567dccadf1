import Foundation
import Tensors
import XCTest

@testable import Networks

/// Reads the PyTorch fixtures written by scripts/make-model-fixtures.py.
enum ModelFixtures {
    struct ModelInfo: Decodable {
        let keys: [[Key]]
        let parameters: Int
        let input: [Int]
        let macs: Int
        let stages: [[Int]]
        enum Key: Decodable {
            case name(String)
            case shape([Int])
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let s = try? c.decode(String.self) {
                    self = .name(s)
                } else {
                    self = .shape(try c.decode([Int].self))
                }
            }
        }
        /// `(key, shape)` pairs in state_dict order.
        var entries: [(String, [Int])] {
            keys.map { pair in
                guard case .name(let n) = pair[0], case .shape(let s) = pair[1] else { return ("?", []) }
                return (n, s)
            }
        }
    }

    struct Index: Decodable {
        struct Entry: Decodable {
            let name: String
            let shape: [Int]
            let offset: Int
        }
        let state_dict: [Entry]
        let outputs: [Entry]
    }

    static func url(_ name: String) throws -> URL {
        try XCTUnwrap(
            Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"), "fixture \(name)")
    }

    static func models() throws -> [String: ModelInfo] {
        try JSONDecoder().decode([String: ModelInfo].self, from: Data(contentsOf: url("models.json")))
    }

    /// The resnet8 (1 channel) export: state-dict entries and named outputs.
    static func resnet8() throws -> (stateDict: [(String, Tensor)], outputs: [String: Tensor]) {
        let index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: url("resnet8-1ch.json")))
        let bytes = try Data(contentsOf: url("resnet8-1ch.bin"))
        let floats: [Float] = bytes.withUnsafeBytes { raw in
            (0..<bytes.count / 4).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
            }
        }
        func tensor(_ e: Index.Entry) -> Tensor {
            let n = e.shape.reduce(1, *)
            return Tensor(shape: e.shape, data: Array(floats[e.offset..<e.offset + n]))
        }
        return (
            index.state_dict.map { ($0.name, tensor($0)) },
            Dictionary(uniqueKeysWithValues: index.outputs.map { ($0.name, tensor($0)) })
        )
    }

    /// Asserts `a ≈ b` elementwise: |a − b| ≤ rtol·|b| + atol.
    static func assertClose(
        _ a: Tensor, _ b: Tensor, rtol: Float = 1e-4, atol: Float = 1e-5, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        guard a.shape == b.shape else { return }
        let worst = zip(a.data, b.data).map { abs($0 - $1) - rtol * abs($1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, atol, "\(what): max excess error \(worst)", file: file, line: line)
    }

    /// Deterministic test input of `shape`.
    static func randomInput(_ shape: [Int], seed: UInt64 = 1) -> Tensor {
        var rng = SeededRandom(seed: seed)
        return .normal(shape, rng: &rng)
    }
}
