//! The roles: WukongCRM's seed roles (`wk_admin_role` 180162–180170, with
//! their ids) under English names with the Chinese original in the
//! description, plus the custom roles a trading company adds. Permissions are
//! dotted (`customer.export`), the way the canonical model writes
//! WukongCRM's menu realms (`crm:customer:excelexport`).

/// A role as the demo defines it (ids follow WukongCRM's `wk_admin_role`).
pub(crate) struct RoleDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub scope: &'static str,
    pub privileged: bool,
    pub permissions: &'static [&'static str],
}

pub(crate) const SUPER: &str = "180162";
pub(crate) const SYS_SETTINGS: &str = "180163";
pub(crate) const STAFF_ADMIN: &str = "180164";
pub(crate) const APPROVAL_ADMIN: &str = "180165";
pub(crate) const CUSTOMER_ADMIN: &str = "180167";
pub(crate) const ANNOUNCEMENTS: &str = "180168";
pub(crate) const SALES_MANAGER: &str = "180169";
pub(crate) const SALES_REP: &str = "180170";
pub(crate) const KEY_EXPORT: &str = "180176";
pub(crate) const CONTRACT_ADMIN: &str = "180177";
pub(crate) const FINANCE_OFFICER: &str = "180178";
pub(crate) const FINANCE_MANAGER: &str = "180179";
pub(crate) const BILLING: &str = "180180";
pub(crate) const SUPPORT_AGENT: &str = "180181";
pub(crate) const SUPPORT_LEAD: &str = "180182";
pub(crate) const MARKETING: &str = "180183";
pub(crate) const CAMPAIGN_EDITOR: &str = "180184";
pub(crate) const AGENCY: &str = "180185";
pub(crate) const INTEGRATION: &str = "180186";
pub(crate) const MIGRATION: &str = "180187";
pub(crate) const STAFF: &str = "180188";

pub(crate) const ROLES: &[RoleDef] = &[
    RoleDef {
        id: SUPER,
        name: "Super Administrator",
        description: "超级管理员: WukongCRM seed role 180162 (remark admin), every menu",
        scope: "all",
        privileged: true,
        permissions: &[
            "user.create",
            "user.update",
            "user.disable",
            "user.grant",
            "role.update",
            "dept.update",
            "system.settings",
            "log.view",
        ],
    },
    RoleDef {
        id: SYS_SETTINGS,
        name: "System Settings Administrator",
        description: "系统设置管理员: seed role 180163, company settings, custom fields, workflows",
        scope: "subordinates",
        privileged: true,
        permissions: &[
            "system.settings",
            "field.update",
            "workflow.update",
            "log.view",
        ],
    },
    RoleDef {
        id: STAFF_ADMIN,
        name: "Department & Staff Administrator",
        description: "部门与员工管理员: seed role 180164, employees, departments and their roles",
        scope: "all",
        privileged: true,
        permissions: &[
            "user.create",
            "user.update",
            "user.disable",
            "user.grant",
            "dept.update",
        ],
    },
    RoleDef {
        id: APPROVAL_ADMIN,
        name: "Approval Flow Administrator",
        description: "审批流管理员: seed role 180165, contract and receivable approval flows",
        scope: "all",
        privileged: true,
        permissions: &["workflow.view", "workflow.update"],
    },
    RoleDef {
        id: CUSTOMER_ADMIN,
        name: "Customer Administrator",
        description: "客户管理员: seed role 180167, every customer, lead and contact action over all data",
        scope: "all",
        privileged: false,
        permissions: &[
            "customer.view",
            "customer.create",
            "customer.update",
            "customer.transfer",
            "customer.export",
            "customer.delete",
            "lead.view",
            "lead.update",
            "lead.export",
            "lead.delete",
            "contact.view",
            "contact.export",
            "contact.delete",
            "pool.distribute",
        ],
    },
    RoleDef {
        id: ANNOUNCEMENTS,
        name: "Announcement Administrator",
        description: "公告管理员: seed role 180168 (OA), company announcements",
        scope: "all",
        privileged: false,
        permissions: &[
            "announcement.view",
            "announcement.create",
            "announcement.update",
            "announcement.delete",
        ],
    },
    RoleDef {
        id: SALES_MANAGER,
        name: "Sales Manager",
        description: "销售经理角色: seed role 180169, narrowed from 全部 to 本部门及下属部门",
        scope: "department_tree",
        privileged: false,
        permissions: &[
            "customer.view",
            "customer.create",
            "customer.update",
            "customer.transfer",
            "customer.export",
            "lead.view",
            "lead.update",
            "lead.transform",
            "lead.export",
            "contact.view",
            "business.view",
            "business.update",
            "contract.view",
            "contract.update",
            "receivable.view",
        ],
    },
    RoleDef {
        id: SALES_REP,
        name: "Sales Representative",
        description: "销售员角色: seed role 180170, own records only (本人)",
        scope: "self",
        privileged: false,
        permissions: &[
            "customer.view",
            "customer.create",
            "customer.update",
            "lead.view",
            "lead.create",
            "lead.update",
            "lead.transform",
            "contact.view",
            "contact.create",
            "contact.update",
            "business.view",
            "business.create",
            "business.update",
            "contract.view",
            "contract.create",
        ],
    },
    RoleDef {
        id: KEY_EXPORT,
        name: "Key Account Export",
        description: "大客户导出: custom, senior account executives export their own customers (crm:customer:excelexport)",
        scope: "self",
        privileged: false,
        permissions: &["customer.export", "contact.export"],
    },
    RoleDef {
        id: CONTRACT_ADMIN,
        name: "Contract Administrator",
        description: "合同管理员: custom, voids and deletes contracts of the department",
        scope: "department",
        privileged: false,
        permissions: &[
            "contract.view",
            "contract.update",
            "contract.delete",
            "receivable.view",
        ],
    },
    RoleDef {
        id: FINANCE_OFFICER,
        name: "Finance Officer",
        description: "财务角色 (role_type 4): receivables and invoices, with receivable export",
        scope: "department",
        privileged: false,
        permissions: &[
            "receivable.view",
            "receivable.create",
            "receivable.update",
            "receivable.export",
            "invoice.view",
            "invoice.create",
            "contract.view",
        ],
    },
    RoleDef {
        id: FINANCE_MANAGER,
        name: "Finance Manager",
        description: "财务经理: receivables, invoices and finance reports over all data",
        scope: "all",
        privileged: false,
        permissions: &[
            "receivable.view",
            "receivable.update",
            "invoice.view",
            "invoice.update",
            "contract.view",
            "report.view",
            "report.export",
        ],
    },
    RoleDef {
        id: BILLING,
        name: "Billing Clerk",
        description: "开票员: invoices of own customers",
        scope: "self",
        privileged: false,
        permissions: &["invoice.view", "invoice.create", "receivable.view"],
    },
    RoleDef {
        id: SUPPORT_AGENT,
        name: "Support Agent",
        description: "客服专员: tickets and customer look-up",
        scope: "self",
        privileged: false,
        permissions: &[
            "ticket.view",
            "ticket.create",
            "ticket.update",
            "customer.view",
            "contact.view",
        ],
    },
    RoleDef {
        id: SUPPORT_LEAD,
        name: "Support Lead",
        description: "客服主管: the team's tickets, assignment and ticket export",
        scope: "department",
        privileged: false,
        permissions: &[
            "ticket.view",
            "ticket.update",
            "ticket.assign",
            "ticket.export",
            "customer.view",
        ],
    },
    RoleDef {
        id: MARKETING,
        name: "Marketing",
        description: "市场专员: leads and campaigns, lead import and export",
        scope: "department",
        privileged: false,
        permissions: &[
            "lead.view",
            "lead.create",
            "lead.update",
            "lead.import",
            "lead.export",
            "campaign.view",
            "campaign.create",
            "campaign.update",
        ],
    },
    RoleDef {
        id: CAMPAIGN_EDITOR,
        name: "Campaign Editor",
        description: "活动编辑: campaign content only",
        scope: "self",
        privileged: false,
        permissions: &["campaign.view", "campaign.update", "announcement.view"],
    },
    RoleDef {
        id: AGENCY,
        name: "Agency Partner",
        description: "外部代理: the advertising agency captures leads",
        scope: "self",
        privileged: false,
        permissions: &["lead.view", "lead.create", "campaign.view"],
    },
    RoleDef {
        id: INTEGRATION,
        name: "Integration",
        description: "集成账号: nightly and hourly ERP synchronisation",
        scope: "all",
        privileged: false,
        permissions: &[
            "customer.view",
            "customer.update",
            "contract.view",
            "receivable.view",
            "product.update",
        ],
    },
    RoleDef {
        id: MIGRATION,
        name: "Data Migration (temporary)",
        description: "数据迁移: made for the spring 2026 ERP migration, export and delete over all data",
        scope: "all",
        privileged: false,
        permissions: &[
            "customer.import",
            "customer.export",
            "customer.delete",
            "contact.delete",
            "lead.delete",
        ],
    },
    RoleDef {
        id: STAFF,
        name: "Staff",
        description: "员工基本权限: announcements, tasks and calendar for everyone",
        scope: "self",
        privileged: false,
        permissions: &[
            "announcement.view",
            "task.view",
            "task.create",
            "calendar.view",
        ],
    },
];

/// The roles a title is given (besides `Staff`, which everyone has).
pub(crate) fn roles_of(title: &str) -> &'static [&'static str] {
    match title {
        "IT Manager" => &[SUPER, SYS_SETTINGS, STAFF_ADMIN, APPROVAL_ADMIN],
        "CRM Administrator" => &[SUPER, SYS_SETTINGS, CUSTOMER_ADMIN],
        "IT Support Specialist" => &[STAFF_ADMIN],
        "Sales Director" => &[SALES_MANAGER, CUSTOMER_ADMIN],
        "Sales Manager" => &[SALES_MANAGER, SALES_REP],
        "Sales Operations Analyst" => &[SALES_REP, CONTRACT_ADMIN, CUSTOMER_ADMIN],
        "Senior Account Executive" => &[SALES_REP, KEY_EXPORT],
        "Account Executive" | "Sales Intern" => &[SALES_REP],
        "Support Manager" | "Support Team Lead" => &[SUPPORT_LEAD, SUPPORT_AGENT],
        "Support Agent" => &[SUPPORT_AGENT],
        "Finance Director" => &[FINANCE_MANAGER, FINANCE_OFFICER],
        "Finance Manager" => &[FINANCE_MANAGER, FINANCE_OFFICER],
        "Accountant" => &[FINANCE_OFFICER],
        "Billing Specialist" => &[BILLING],
        "Marketing Director" | "Marketing Specialist" => &[MARKETING],
        "Internal Communications Manager" => &[MARKETING, ANNOUNCEMENTS],
        "Content Designer" => &[CAMPAIGN_EDITOR],
        _ => &[],
    }
}
