import Datasets
import Distillation
import Foundation
import Language
import Networks
import Storage

/// `export MODEL to="FILE.py"` and `export session to="FILE.py"`: PyTorch source generated from the session.
///
/// The Python text is in `Templates/` (`PythonTemplate.modelLibrary`, `.modelFile`, `.sessionScript`); this file
/// computes the values that fill it: the architecture (`PyTorchArchitecture`), the stages, the recorded
/// normalisation, and for a session the `RECIPE` read off the workspace's run records (`SessionRecipe`).
enum PyTorchExport {
    /// The text of a self-contained PyTorch module file for `object` (torch and safetensors only): the
    /// architecture with sskd's parameter names, `STAGES` (the model's current split points), the normalisation
    /// and input shape of `facts` (what the model was trained on), `load(path)` and a `__main__`.
    /// - Parameter fileName: the file's name, quoted in its docstring.
    /// - Throws: `EngineError` for an architecture outside the zoo's families.
    static func modelFile(_ object: ModelObject, facts: DataFacts?, fileName: String) throws -> String {
        let model = object.model
        let shape = facts?.shape ?? object.defaultInputShape
        let architecture = try PyTorchArchitecture(model, inputSize: Array(shape.dropFirst()))
        let classes = facts?.classNames ?? []
        return PythonTemplate.modelFile.filled([
            "VERSION": Session.version, "FILE": docText(fileName), "ARCH": docText(model.architecture),
            "ARCH_LITERAL": PythonLiteral.string(model.architecture).text(),
            "CONFIG": architecture.config.text(),
            "STAGES": PythonLiteral.strings(model.stages.map(\.name)).text(),
            "MEAN": (facts?.mean).map { PythonLiteral.doubles($0).text() } ?? "None",
            "STD": (facts?.std).map { PythonLiteral.doubles($0).text() } ?? "None",
            "INPUT_SHAPE": PythonLiteral.ints(shape).text(),
            "CLASS_NAMES": PythonLiteral.strings(classes).text(),
            "LIBRARY": PythonTemplate.modelLibrary.text,
        ])
    }

    /// The text of the session script: `RECIPE` (`SessionRecipe.literal`) in `PythonTemplate.sessionScript`.
    static func sessionScript(_ recipe: SessionRecipe, fileName: String) -> String {
        PythonTemplate.sessionScript.filled([
            "VERSION": Session.version, "FILE": docText(fileName), "RECIPE": recipe.literal.text(indent: 4),
            "LIBRARY": PythonTemplate.modelLibrary.text,
        ])
    }

    /// Text safe inside a Python docstring: letters, digits and `._-/+` kept, anything else as `_`.
    static func docText(_ text: String) -> String {
        String(
            text.unicodeScalars.prefix(200).map { c -> Character in
                CharacterSet.alphanumerics.contains(c) && c.isASCII || "._-/+".unicodeScalars.contains(c)
                    ? Character(c) : "_"
            })
    }
}
