import Datasets
import Distillation
import Foundation
import Language
import Networks
import Storage
import Tensors

// The `budget=` option of train, kd, fitnet and at: train for the compute of another model's runs, or for N GMAC.

/// `budget=`: a model (the compute of all its runs so far) or a number of GMAC, declared once for train, kd,
/// fitnet and at (`described(_:)` gives each its own help line).
enum BudgetOption {
    /// The largest budget in GMAC (excluded) is 10 to this power: 10^18 MACs, far beyond any run, within Int.
    static let maximumGMACExponent = 9
    /// The largest budget in GMAC (excluded).
    static let maximumGMAC = pow(10, Double(maximumGMACExponent))

    /// The declaration: a number must be a positive count of GMAC below `maximumGMAC`.
    static let budget = TypedOption<Value>.value(
        "budget",
        bounds: Bounds("be a positive number of GMAC below 1e\(maximumGMACExponent)") {
            $0 > 0 && $0 < maximumGMAC
        },
        "train for the compute another model's runs spent (a model), or this many GMAC (a number), instead of epochs")
}

extension Session {
    /// The step count whose whole cost (`cost`, MACs as a function of steps) matches the `budget=` option:
    /// a model (the compute of all its runs so far) or a number of GMAC.
    /// `makeCost` builds the estimate (`Baselines.scratchCost` and kin); its errors are reported at the command.
    func budgetSteps(_ inv: Invocation, cost makeCost: () throws -> (Int) -> Int) throws -> Int {
        let target = try budgetMACs(inv)
        let cost: (Int) -> Int
        do { cost = try makeCost() } catch { throw engineError(inv, error) }
        guard cost(1) <= target else {
            throw inv.error(
                "option 'budget': \(ComputeCost.format(target)) does not pay for one step and a validation "
                    + "(\(ComputeCost.format(cost(1))))",
                at: BudgetOption.budget)
        }
        guard cost(ComputeBudget.maximumSteps) > target else {
            throw inv.error(
                "option 'budget': \(ComputeCost.format(target)) is more than \(ComputeBudget.maximumSteps) steps",
                at: BudgetOption.budget)
        }
        let steps = ComputeBudget.steps(budget: target, cost: cost)
        print("budget: \(counted(steps, "step")), \(ComputeCost.format(cost(steps))) of \(ComputeCost.format(target))")
        return steps
    }

    /// The `budget=` option in MACs: a model's runs' total compute, or a number of GMAC (within the declared bound,
    /// checked when the arguments were bound).
    /// - Throws: an error at `budget` when `epochs=` or `steps=` is given too, when the model has no runs yet, or
    ///   for a value that is neither a model nor a number.
    func budgetMACs(_ inv: Invocation) throws -> Int {
        let training = TrainingDeclarations.classification
        guard !inv.isGiven(training.epochs) && !inv.isGiven(training.steps) else {
            throw inv.error("give budget= or epochs=/steps=, not both", at: BudgetOption.budget)
        }
        let value = try inv.get(BudgetOption.budget)
        switch value {
        case .object(let m as ModelObject):
            let target = m.records.reduce(0) { $0 + $1.compute.total }
            guard target > 0 else {
                throw inv.error(
                    "option 'budget': \(workspace.name(of: m, in: self)) has no training runs yet",
                    at: BudgetOption.budget)
            }
            return target
        case .number(let g):
            return Int(g * 1e9)
        default:
            throw inv.error(
                "option 'budget': takes a model or a number of GMAC, got \(value.literal)", at: BudgetOption.budget)
        }
    }
}
