import Tensors
import XCTest

@testable import Distillation

/// The KD loss and its student gradient against PyTorch (values printed by scripts/make-distillation-fixtures.py).
final class KDLossTests: XCTestCase {
    let student: [Float] = [
        -0.153288588, 0.719763041, -1.56403363, 0.143055469, 2.09204555, 1.04437399, -0.333618313, 0.106066801,
        0.809214294, 1.22259927, 1.5207808, -0.0672865212, 1.99584484, 0.918360889, 4.87279415, -0.293616354,
        0.970228016, 0.410468757, 0.676856399, 2.70550799,
    ]
    let teacher: [Float] = [
        0.111200631, -0.203056768, 1.28709912, -2.60435772, 1.8591063, 5.72909355, -4.73419094, 1.5213902, 0.609036982,
        -0.613268316, -1.23641372, 2.06212616, 1.87153554, 3.43083382, -0.364310175, 1.87919748, -5.86227894,
        -3.66489744, -0.991254866, -1.27290475,
    ]
    let labels = [0, 3, 1, 4]

    func check(temperature: Float, alpha: Float, loss expected: Float, grad expectedGrad: [Float]) throws {
        let s = Tensor(shape: [4, 5], data: student, requiresGrad: true)
        let t = Tensor(shape: [4, 5], data: teacher)
        let loss = try Baselines.kdLoss(student: s, teacher: t, labels: labels, temperature: temperature, alpha: alpha)
        XCTAssertEqual(loss.item, expected, accuracy: 1e-4 * abs(expected))
        try loss.backward()
        let grad = try XCTUnwrap(s.grad).data
        XCTAssertTrue(grad.contains { abs($0) > 1e-3 }, "the student gradient must not vanish")
        for (a, b) in zip(grad, expectedGrad) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
        XCTAssertNil(t.grad, "the teacher gets no gradient")
    }

    func testKDLossWithTemperature4MatchesPyTorch() throws {
        try check(
            temperature: 4, alpha: 0.9, loss: 3.49667025,
            grad: [
                -0.0365953483, 0.0416015387, -0.117009439, 0.0843333676, 0.0276697911, -0.264957219, 0.109297447,
                -0.00368525041, 0.0381944552, 0.121150605, 0.0607225038, -0.130622238, -0.0264794193, -0.161545381,
                0.257924557, -0.254838794, 0.124909133, 0.0597329326, -0.0207073335, 0.0909040421,
            ])
    }

    func testKDLossWithTemperature1MatchesPyTorch() throws {
        try check(
            temperature: 1, alpha: 0.5, loss: 2.17498255,
            grad: [
                -0.119266406, 0.0330207422, -0.0333537795, 0.0225391164, 0.0970603228, -0.0533409119, 0.0173628759,
                0.0251375213, -0.0712757856, 0.0821162909, 0.00704709999, -0.144650921, -0.00496861339, -0.0792348906,
                0.221807331, -0.104705468, 0.0301799159, 0.0168284532, 0.0161251202, 0.0415719822,
            ])
    }

    func testAttentionMapIsUnitNormPerImage() throws {
        var rng = SeededRandom(seed: 1)
        let x = Tensor.normal([3, 4, 5, 5], rng: &rng)
        let q = try Baselines.attentionMap(x)
        XCTAssertEqual(q.shape, [3, 25])
        for i in 0..<3 {
            let norm = q.data[(i * 25)..<((i + 1) * 25)].reduce(0) { $0 + $1 * $1 }
            XCTAssertEqual(norm, 1, accuracy: 1e-5)
        }
        // Q is proportional to the channel mean of x²: check one pixel ratio.
        func squares(_ pixel: Int) -> Float {
            var total: Float = 0
            for c in 0..<4 {
                let v = x.data[c * 25 + pixel]
                total += v * v
            }
            return total
        }
        let m0 = squares(0)
        let m1 = squares(1)
        XCTAssertEqual(q.data[0] / q.data[1], m0 / m1, accuracy: 1e-4 * m0 / m1)
    }
}
