import Foundation
import TestSupport

@testable import Language

/// A stand-in model for tests: members `stage` (indexed 1...4), `head`, `backbone`, `name`.
final class FakeModel: SessionObject {
    let name: String
    init(name: String) { self.name = name }
    var typeName: String { "model" }
    var summary: String { "\(name) (fake, 4 stages)" }
    var memberNames: [String] { ["backbone", "head", "name", "stage"] }
    func member(_ member: String) throws -> Value {
        switch member {
        case "stage": return .object(FakeStages(model: name))
        case "head": return .object(FakePart(text: "\(name).head: linear 64 -> 10"))
        case "backbone": return .object(FakePart(text: "\(name).backbone: stages 1-4"))
        default: return .string(name)
        }
    }
    func index(_ i: Int) throws -> Value { throw FakeError.notIndexable }
}

final class FakeStages: SessionObject {
    let model: String
    init(model: String) { self.model = model }
    var typeName: String { "stages" }
    var summary: String { "4 stages of \(model)" }
    var memberNames: [String] { [] }
    func member(_ name: String) throws -> Value { throw FakeError.noMember(name) }
    func index(_ i: Int) throws -> Value {
        guard (1...4).contains(i) else { throw FakeError.stageOutOfRange(i) }
        return .object(FakePart(text: "\(model).stage[\(i)]: \(16 << (i - 1)) channels"))
    }
}

final class FakePart: SessionObject {
    let text: String
    init(text: String) { self.text = text }
    var typeName: String { "layer" }
    var summary: String { text }
    var memberNames: [String] { ["parameters"] }
    func member(_ name: String) throws -> Value { .number(1234) }
    func index(_ i: Int) throws -> Value { throw FakeError.notIndexable }
}

enum FakeError: Error, CustomStringConvertible {
    case notIndexable
    case noMember(String)
    case stageOutOfRange(Int)
    var description: String {
        switch self {
        case .notIndexable: return "not indexable"
        case .noMember(let n): return "no member \(n)"
        case .stageOutOfRange(let i): return "stage \(i) does not exist; stages are 1...4"
        }
    }
}

/// A session with the generic commands plus two engine-like stand-ins, so the language tests do not depend on the
/// engine.
func testSession(_ sink: OutputSink = CaptureSink()) -> Session {
    let session = Session.standard(output: sink)
    // The training session options the engine declares (with `TrainingConfig`'s defaults), declared the same way.
    session.options.declare(
        SessionOption(
            "batch", .integer, default: .number(64), "mini-batch size for training and evaluation",
            bounds: .range(1...65_536)),
        before: "terminal")
    session.options.declare(
        SessionOption(
            "lr", .number, default: .number(0.1), "default learning rate",
            bounds: Bounds("be positive and finite") { $0 > 0 && $0.isFinite }),
        before: "terminal")
    session.commands.register(
        CommandSpec(
            "testmodel", summary: "make a fake model",
            arguments: [ArgumentSpec("arch", .word(choices: ["resnet8", "resnet20"]), "architecture")],
            example: "m = testmodel resnet8"
        ) { inv, _ in .object(FakeModel(name: try inv.string("arch"))) })
    session.commands.register(
        CommandSpec(
            "train", summary: "pretend to train a model",
            arguments: [
                ArgumentSpec("model", .object("model"), "the model to train"),
                ArgumentSpec("data", .string, "a data set name", optional: true),
            ],
            options: [
                OptionSpec("epochs", .integer, default: .number(1), "passes over the data"),
                OptionSpec("lr", .number, session: "lr", "learning rate"),
                OptionSpec("verbose", .bool, default: .bool(false), "print each epoch"),
            ],
            example: "train m \"fashion\" epochs=2 lr=0.05"
        ) { inv, session in
            let model = try inv.object("model", as: FakeModel.self)
            let epochs = try inv.int("epochs")
            guard epochs > 0 else { throw inv.error("epochs must be positive, got \(epochs)", at: "epochs") }
            session.print("training \(model.name) for \(epochs) epochs at lr \(Value.format(try inv.double("lr")))")
            if model.name == "resnet20" { throw FakeError.notIndexable }
            return .number(0.5 + 0.1 * Double(epochs))
        })
    return session
}

/// The package root (`TestSupport.repositoryRoot`).
let packageRoot = repositoryRoot
