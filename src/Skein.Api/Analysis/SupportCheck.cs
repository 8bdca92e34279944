using System.Collections;
using Skein.Api.Loading;
using Skein.Api.Model;
using Skein.Api.Validation;

namespace Skein.Api.Analysis;

/// <summary>Warns (SK0110) about every field that is set but that Skein does not enforce.</summary>
internal static class SupportCheck
{
    public static void Run(MeshIndex index, Findings findings)
    {
        foreach (var resource in index.Resources)
        {
            if (resource.SpecObject is { } spec)
            {
                Walk(findings, resource, spec, "spec", "spec");
            }

            if (resource is VirtualService { Spec.Gateways: { } gateways } vs)
            {
                for (var i = 0; i < gateways.Count; i++)
                {
                    if (gateways[i] != "mesh")
                    {
                        findings.Warning(DiagnosticCodes.NotSupported, vs, $"spec.gateways[{i}]",
                            $"gateway \"{gateways[i]}\" is not supported by Skein (sidecars only); only \"mesh\" applies");
                    }
                }
            }

            if (resource is AuthorizationPolicy { Spec.Action: AuthorizationAction.Custom } custom)
            {
                findings.Warning(DiagnosticCodes.NotSupported, custom, "spec.action",
                    "action CUSTOM (external authorization) is not supported by Skein; this policy is ignored");
            }

            if (resource is AuthorizationPolicy { Spec.Rules: { } rules } policy)
            {
                WarnUnsupportedConditions(findings, policy, rules);
            }
        }
    }

    /// <summary>JWT claims and Envoy filter metadata are never set in Skein: such conditions never match (not-values always do).</summary>
    private static void WarnUnsupportedConditions(Findings findings, AuthorizationPolicy policy, IReadOnlyList<AuthorizationRule> rules)
    {
        for (var i = 0; i < rules.Count; i++)
        {
            var when = rules[i].When ?? [];
            for (var j = 0; j < when.Count; j++)
            {
                if (when[j].Key is { } key && (key.StartsWith("request.auth.", StringComparison.Ordinal) || key.StartsWith("experimental.envoy.filters.", StringComparison.Ordinal)))
                {
                    findings.Warning(DiagnosticCodes.NotSupported, policy, $"spec.rules[{i}].when[{j}].key",
                        $"condition key \"{key}\" is not supported by Skein (no JWT or filter metadata): its values never match and its notValues always do");
                }
            }
        }
    }

    private static void Walk(Findings findings, Resource resource, object value, string path, string normalized)
    {
        foreach (var field in TypeSchema.For(value.GetType()).Fields)
        {
            if (field.Property.GetValue(value) is not { } child)
            {
                continue;
            }

            var childPath = $"{path}.{field.YamlName}";
            var childNormalized = $"{normalized}.{field.YamlName}";
            var support = FieldSupportMatrix.For(resource.Kind, childNormalized);
            if (support.Level == SupportLevel.No)
            {
                var note = support.Note is null ? "" : $" ({support.Note})";
                findings.Warning(DiagnosticCodes.NotSupported, resource, childPath, $"is not supported by Skein and is ignored{note}");
                continue;
            }

            switch (child)
            {
                case string or Enum or IDictionary:
                    break;
                case IList list:
                    for (var i = 0; i < list.Count; i++)
                    {
                        if (list[i] is { } item && TypeSchema.IsRecord(item.GetType()))
                        {
                            Walk(findings, resource, item, $"{childPath}[{i}]", childNormalized + "[]");
                        }
                    }

                    break;
                default:
                    if (TypeSchema.IsRecord(child.GetType()))
                    {
                        Walk(findings, resource, child, childPath, childNormalized);
                    }

                    break;
            }
        }
    }
}
