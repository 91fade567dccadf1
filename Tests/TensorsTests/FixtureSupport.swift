import Foundation
import XCTest

@testable import Tensors

/// One PyTorch reference case, `Fixtures/<case>.json`, written by `scripts/make-fixtures.py`:
/// `{"case": name, "params": {name: [numbers]}, "tensors": {name: {"shape": [...], "data": [...]}}}`.
/// Large cases may give an input as `"wave": [a, b, c, d]` (element i = c·sin(a·i + b)·cos(d·i), computed in
/// Double, rounded to Float) and an expected tensor as `"every": k` with only flat elements 0, k, 2k, ... stored.
struct Fixture: Decodable {
    /// A float32 array with its shape, row-major as PyTorch's `contiguous()` layout.
    struct Values: Decodable {
        let shape: [Int]
        /// All elements, or with `every > 1` only flat elements 0, every, 2·every, ...
        let data: [Float]
        let every: Int

        init(shape: [Int], data: [Float], every: Int = 1) {
            self.shape = shape
            self.data = data
            self.every = every
        }

        private enum Keys: String, CodingKey { case shape, data, every, wave }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            shape = try c.decode([Int].self, forKey: .shape)
            if let w = try c.decodeIfPresent([Double].self, forKey: .wave) {
                data = (0..<shape.reduce(1, *)).map { i in
                    Float(w[2] * sin(w[0] * Double(i) + w[1]) * cos(w[3] * Double(i)))
                }
                every = 1
            } else {
                data = try c.decode([Float].self, forKey: .data)
                every = try c.decodeIfPresent(Int.self, forKey: .every) ?? 1
            }
        }

        /// Entry `i` of the outermost axis (e.g. the parameters after step `i` of `[steps, ...]`).
        func row(_ i: Int) -> Values {
            precondition(every == 1, "row of a sampled tensor")
            let size = shape.dropFirst().reduce(1, *)
            return Values(shape: Array(shape.dropFirst()), data: Array(data[(i * size)..<((i + 1) * size)]))
        }
    }

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    let `case`: String
    let params: [String: [Double]]
    let tensors: [String: Values]

    /// Loads `Fixtures/<name>.json` from the test bundle.
    static func load(_ name: String) throws -> Fixture {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
            throw Missing(
                description: "no fixture Fixtures/\(name).json in the test bundle (run scripts/make-fixtures.py)")
        }
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func values(_ key: String) throws -> Values {
        guard let v = tensors[key] else { throw Missing(description: "fixture \(self.case) has no tensor '\(key)'") }
        return v
    }

    /// Tensor `key` as a fresh leaf.
    func tensor(_ key: String, requiresGrad: Bool = false) throws -> Tensor {
        let v = try values(key)
        guard v.every == 1 else { throw Missing(description: "fixture \(self.case) stores only samples of '\(key)'") }
        return Tensor(shape: v.shape, data: v.data, requiresGrad: requiresGrad)
    }

    /// Class indices stored as floats (e.g. `targets`).
    func indices(_ key: String) throws -> [Int] { try values(key).data.map { Int($0) } }

    func param(_ key: String) throws -> [Double] {
        guard let p = params[key] else { throw Missing(description: "fixture \(self.case) has no param '\(key)'") }
        return p
    }
    func ints(_ key: String) throws -> [Int] { try param(key).map { Int($0) } }
    func int(_ key: String) throws -> Int { try ints(key)[0] }
    func pair(_ key: String) throws -> (Int, Int) {
        let v = try ints(key)
        return (v[0], v[1])
    }
    func float(_ key: String) throws -> Float { Float(try param(key)[0]) }
}

/// Asserts `got` has `expected`'s shape and every element satisfies |a − b| ≤ tol·max(1, |b|),
/// reporting the number of mismatches and the worst one.
func assertClose(
    _ got: Tensor?, _ expected: Fixture.Values, tolerance: Float = 1e-4, _ label: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    guard let got else { return XCTFail("\(label): no tensor (missing gradient?)", file: file, line: line) }
    guard got.shape == expected.shape else {
        return XCTFail(
            "\(label): shape \(formatShape(got.shape)), PyTorch \(formatShape(expected.shape))", file: file, line: line)
    }
    let sampled =
        expected.every == 1 ? got.data : stride(from: 0, to: got.count, by: expected.every).map { got.data[$0] }
    assertClose(sampled, expected.data, tolerance: tolerance, label, file: file, line: line)
}

/// Elementwise |a − b| ≤ tol·max(1, |b|) on flat arrays of equal length.
func assertClose(
    _ got: [Float], _ expected: [Float], tolerance: Float = 1e-4, _ label: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    guard got.count == expected.count else {
        return XCTFail("\(label): \(got.count) values, PyTorch \(expected.count)", file: file, line: line)
    }
    var bad = 0
    var worst = -1
    var worstRatio: Float = 0
    for i in 0..<got.count {
        let ratio = abs(got[i] - expected[i]) / (tolerance * max(1, abs(expected[i])))
        if !(ratio <= 1) { bad += 1 }
        if !(ratio <= worstRatio) {
            worstRatio = ratio
            worst = i
        }
    }
    if bad > 0 {
        XCTFail(
            "\(label): \(bad)/\(got.count) values differ; worst at flat index \(worst): got \(got[worst]), PyTorch "
                + "\(expected[worst])",
            file: file, line: line)
    }
}

/// Runs one forward/backward fixture: loads the differentiable `inputs` as leaves with `requiresGrad`,
/// runs `forward`, compares it with `out`, backpropagates `(out * out_weight).sum()` (or `out` itself for a
/// scalar case) and compares each input's gradient with `grad_<input>`. Every `grad_*` in the fixture must
/// be covered by `inputs`, so no PyTorch gradient goes unchecked.
@discardableResult
func checkForwardBackward(
    _ name: String, inputs: [String], tolerance: Float = 1e-4,
    file: StaticString = #filePath, line: UInt = #line,
    forward: (Fixture, [String: Tensor]) throws -> Tensor
) throws -> [String: Tensor] {
    let f = try Fixture.load(name)
    let expectedGrads = Set(f.tensors.keys.filter { $0.hasPrefix("grad_") })
    XCTAssertEqual(
        expectedGrads, Set(inputs.map { "grad_" + $0 }), "\(name): inputs do not match the fixture's gradients",
        file: file, line: line)
    var leaves: [String: Tensor] = [:]
    for k in inputs { leaves[k] = try f.tensor(k, requiresGrad: true) }
    let out = try forward(f, leaves)
    assertClose(out, try f.values("out"), tolerance: tolerance, "\(name) forward", file: file, line: line)
    let loss = f.tensors["out_weight"] == nil ? out : try (out * f.tensor("out_weight")).sum()
    try loss.backward()
    for k in inputs {
        assertClose(
            leaves[k]?.grad, try f.values("grad_" + k), tolerance: tolerance, "\(name) d/d\(k)", file: file, line: line)
    }
    return leaves
}
