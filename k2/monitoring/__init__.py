"""The platform's metrics, dashboard and alarms, defined once as pure data.

``metrics`` is the catalog (namespace ``K2`` plus the AWS metrics we read), ``dashboard`` the
panels, ``alarms`` the alarms and the EventBridge rule they need. The CDK observability stack
renders them; nothing here imports CDK or boto3. ``docs/monitoring.md`` describes the result.
"""
