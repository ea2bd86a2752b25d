#!/usr/bin/env python3
"""Least privilege, checked: no IAM statement in template.yaml has a wildcard
action or a wildcard resource, and each function's policies name only the
tables, streams and queues it uses (the USES map below: change it together
with the function's code, and the reviewer sees both). Resource policies
(queue, bucket and topic policies) allow nobody by a wildcard principal.
Also: every asynchronously invoked function has a failure destination, every
function logs to a log group of the template with a retention, every alarm
notifies someone, and every dead-letter or failure queue is alarmed."""
import sys

import yaml

# The resources each function's code touches, by logical id.
USES = {
    "IngestCommissionsHttpFunction": {"EventsTable", "IdempotencyTable"},
    "IngestCommissionsQueueFunction": {"EventsTable", "IdempotencyTable", "CommissionsQueue"},
    "ProjectLedgerFunction": {"EventsTable", "BalancesTable", "JournalTable", "ProjectedTable", "MaturitiesTable"},
    "MatureCommissionsFunction": {"EventsTable", "IdempotencyTable", "MaturitiesTable", "AsyncFailuresQueue"},
    "LedgerApiFunction": {"BalancesTable", "JournalTable", "EventsTable", "IdempotencyTable", "DispatchQueue", "ReportsBucket", "WebhooksTable"},
    "PublishEventsFunction": {"EventsTable", "WebhooksTable", "LedgerEventBus", "AsyncFailuresQueue"},
    "DispatchPayoutsFunction": {"EventsTable", "IdempotencyTable", "DispatchQueue", "PayoutFilesBucket", "ProcessorSecrets"},
    "DraftPayoutsFunction": {"EventsTable", "IdempotencyTable", "BalancesTable", "AsyncFailuresQueue"},
    "ProcessorWebhooksFunction": {"EventsTable", "IdempotencyTable", "ProcessorSecrets"},
    "PollPayoutsFunction": {"EventsTable", "IdempotencyTable", "AsyncFailuresQueue", "ProcessorSecrets"},
    "SepaStatusFilesFunction": {"EventsTable", "IdempotencyTable", "PayoutFilesBucket", "AsyncFailuresQueue"},
    "StatementsFunction": {"EventsTable", "BalancesTable", "JournalTable", "ReportsBucket", "AsyncFailuresQueue"},
    "ReconcileFunction": {"EventsTable", "IdempotencyTable", "BalancesTable", "ReportsBucket", "AsyncFailuresQueue"},
}


# Buckets referenced by their constructed name (where a reference would make
# a dependency cycle with their notifications), and the resource each is.
NAMED_ARNS = {
    "arn:aws:s3:::${AWS::StackName}-payout-files-${AWS::AccountId}": "PayoutFilesBucket",
    "arn:aws:s3:::${AWS::StackName}-reports-${AWS::AccountId}": "ReportsBucket",
}


# Resources outside the template named by a prefix the deployer chooses: the
# secrets of each tenant's processor credentials (the parameter must end in
# '/', so the wildcard stays inside that folder; a secret's ARN ends in a
# random suffix).
PREFIXED_ARNS = {
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${ProcessorSecretsPrefix}*": "ProcessorSecrets",
}


class Loader(yaml.SafeLoader):
    pass


def tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Fn::" + suffix if suffix not in ("Ref",) else "Ref": value}


Loader.add_multi_constructor("!", tag)


def referenced(resource):
    """The logical id a policy resource points at, or None for a literal."""
    if isinstance(resource, dict):
        if "Ref" in resource:
            return resource["Ref"]
        if "Fn::Sub" in resource and isinstance(resource["Fn::Sub"], str):
            # "${Bucket.Arn}/prefix/*": objects under a prefix of one bucket.
            text = resource["Fn::Sub"]
            if text in PREFIXED_ARNS:
                return PREFIXED_ARNS[text]
            for arn, logical in NAMED_ARNS.items():
                if text == arn:
                    return logical
                if text.startswith(arn + "/") and "*" not in text[len(arn) + 1 : -1]:
                    return logical
            if text.startswith("${") and "}" in text:
                inner = text[2:text.index("}")]
                if "*" not in text[: text.index("}")]:
                    return inner.split(".")[0]
            return None
        if "Fn::GetAtt" in resource:
            value = resource["Fn::GetAtt"]
            return (value.split(".")[0] if isinstance(value, str) else value[0])
    return None


def branches(statements):
    """The statements of a policy, with both branches of each Fn::If."""
    for statement in statements:
        if isinstance(statement, dict) and "Fn::If" in statement:
            yield from branches([b for b in statement["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"}])
        elif isinstance(statement, dict):
            yield statement


def main(path):
    template = yaml.load(open(path), Loader=Loader)
    resources = template["Resources"]
    problems = []
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    for name in functions:
        if name not in USES:
            problems.append(f"{name}: not in the USES map of infra/check-iam.py")
    for name, function in functions.items():
        for policy in function.get("Properties", {}).get("Policies", []):
            if not isinstance(policy, dict) or "Statement" not in policy:
                problems.append(f"{name}: only inline statements are allowed, found {policy!r}")
                continue
            for statement in branches(policy["Statement"]):
                actions = statement.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                for action in actions:
                    if "*" in action:
                        problems.append(f"{name}/{statement.get('Sid')}: wildcard action {action}")
                targets = statement.get("Resource", [])
                targets = targets if isinstance(targets, list) else [targets]
                for target in targets:
                    logical = referenced(target)
                    if logical is None:
                        problems.append(f"{name}/{statement.get('Sid')}: resource {target!r} is not a reference to a resource of this template")
                    elif logical not in USES.get(name, set()):
                        problems.append(f"{name}/{statement.get('Sid')}: {logical} is not something this function uses")
    # Asynchronously invoked functions (S3 events, schedules) fail quietly
    # unless a failure destination takes the event after the retries.
    asynchronous = {"S3", "Schedule", "ScheduleV2", "EventBridgeRule", "CloudWatchEvent", "SNS"}
    for name, function in functions.items():
        properties = function.get("Properties", {})
        kinds = {e.get("Type") for e in properties.get("Events", {}).values()}
        if kinds & asynchronous:
            invoke = properties.get("EventInvokeConfig", {})
            on_failure = invoke.get("DestinationConfig", {}).get("OnFailure", {})
            if "Destination" not in on_failure or "MaximumRetryAttempts" not in invoke:
                problems.append(f"{name}: invoked asynchronously ({', '.join(sorted(kinds & asynchronous))}) without an EventInvokeConfig OnFailure destination and MaximumRetryAttempts")
    # Resource policies: Deny statements may name everyone ("*"); an Allow
    # names its principal (a service, a role), never a wildcard.
    policy_types = {"AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy"}
    for name, resource in resources.items():
        if resource["Type"] not in policy_types:
            continue
        for statement in branches(resource["Properties"]["PolicyDocument"]["Statement"]):
            if statement.get("Effect") != "Allow":
                continue
            principal = statement.get("Principal")
            principals = principal.values() if isinstance(principal, dict) else [principal]
            if principal is None or "*" in [p for p in principals if isinstance(p, str)]:
                problems.append(f"{name}/{statement.get('Sid')}: allows a wildcard principal")
            actions = statement.get("Action", [])
            for action in [actions] if isinstance(actions, str) else actions:
                if "*" in action:
                    problems.append(f"{name}/{statement.get('Sid')}: allows a wildcard action {action}")
    # Logs are kept for a known time: each function names its log group.
    for name, function in functions.items():
        group = function.get("Properties", {}).get("LoggingConfig", {}).get("LogGroup")
        logical = group.get("Ref") if isinstance(group, dict) else None
        target = resources.get(logical, {})
        if target.get("Type") != "AWS::Logs::LogGroup" or "RetentionInDays" not in target.get("Properties", {}):
            problems.append(f"{name}: LoggingConfig.LogGroup is not a log group of this template with RetentionInDays")
    # An alarm without an action is seen by nobody.
    alarms = {k: v for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    for name, alarm in alarms.items():
        if not alarm.get("Properties", {}).get("AlarmActions"):
            problems.append(f"{name}: alarm without AlarmActions")
    # Where failed messages and events end up, someone must be told.
    failure_queues = set()
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        target = properties.get("RedrivePolicy", {}).get("deadLetterTargetArn")
        if target is not None:
            failure_queues.add(referenced(target))
        destinations = [properties.get("EventInvokeConfig", {})]
        destinations += [e.get("Properties", {}) for e in properties.get("Events", {}).values()]
        for d in destinations:
            on_failure = d.get("DestinationConfig", {}).get("OnFailure", {})
            if on_failure.get("Type") == "SQS" and "Destination" in on_failure:
                failure_queues.add(referenced(on_failure["Destination"]))
    watched = set()
    for alarm in alarms.values():
        properties = alarm.get("Properties", {})
        if properties.get("MetricName") == "ApproximateNumberOfMessagesVisible":
            for dimension in properties.get("Dimensions", []):
                watched.add(referenced(dimension.get("Value")))
    for queue in sorted(q for q in failure_queues - watched if q):
        problems.append(f"{queue}: a dead-letter or failure queue no alarm watches")
    for name, resource in resources.items():
        if resource["Type"].startswith("AWS::IAM::"):
            problems.append(f"{name}: IAM resources belong in the functions' inline policies")
    for problem in problems:
        print("least privilege:", problem)
    print(f"least privilege: {len(functions)} functions checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
