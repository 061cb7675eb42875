// The console's own words; state and action labels come translated from the API itself.
import { createI18n } from 'vue-i18n'

const zh = {
  app: { title: '数字城管指挥大厅', language: 'English', signOut: '退出', notAvailable: '此功能暂不可用（服务器尚未提供该接口）' },
  nav: { map: '地图', queues: '待办队列', department: '部门任务', rankings: '考核排名', dashboard: '领导驾驶舱', hotspots: '热点地图', admin: '系统管理', settings: '设置' },
  login: { title: '登录指挥大厅', username: '用户名', password: '密码', otp: '动态验证码', otpHint: '请输入身份验证器中的 6 位动态码', submit: '登录', failed: '登录失败' },
  map: { filters: '筛选', apply: '应用', reset: '重置', levels: '图层', district: '区县', street: '街道', community: '社区', grid: '单元网格', cases: '案件', legend: '图例', noBase: '未配置底图：在纯色背景上绘制网格', open: '打开案卷', ring: '外圈：蓝 受理中 · 紫 待派遣 · 灰 处置中 · 黑 核查结案' },
  filter: { state: '状态', process: '流程', category: '类别', street: '街道编码', community: '社区编码', grid: '网格编码', department: '部门', source: '来源', overdue: '超期', dueBefore: '截止时间早于', reportedFrom: '上报起', reportedTo: '上报止', q: '关键字', sort: '排序' },
  queue: { to_accept: '待受理', to_file: '待立案', to_dispatch: '待派遣', to_assign: '待派核查', to_close: '待结案', to_call_back: '待回访', approvals: '待审批', overdue: '已超期', warning: '预警', refreshed: '已刷新', number: '案卷号', category: '类别', state: '状态', deadline: '截止', sla: '时限', address: '地址', description: '描述', department: '部门' },
  sla: { ok: '正常', warning: '预警', overdue: '超期', none: '—' },
  case: { details: '案卷详情', photos: '照片', history: '办理记录', chainOk: '记录链完整（未被篡改）', chainBroken: '记录链已断裂：第 {seq} 条被改动', actions: '可执行操作', noActions: '您当前没有可执行的操作', reload: '重新加载', conflict: '操作未能执行：案卷刚被他人处理，或当前状态不允许此操作。已重新加载最新案卷。', stale: '案卷已被他人修改，请查看最新内容后再操作。已重新加载。', done: '已完成：{action}', deadline: '截止时间', remaining: '剩余', elapsed: '已用', actor: '操作人', time: '时间', comment: '意见', location: '位置', suggested: '建议（责任规则）', upload: '上传照片', confirm: '提交', cancel: '取消', duplicates: '附近的疑似重复案件' },
  field: { department: '处置部门', reason: '理由', comment: '意见', photos: '照片', until: '延期至', grid_worker: '核查监督员（用户 ID）', duplicate_of: '重复于（案卷 ID）', confirmed: '情况属实', passed: '核查通过', resolved: '问题已解决', satisfaction: '满意度', unreachable: '未联系上市民', score: '评分', category: '类别', urgency: '紧急程度' },
  answer: { yes: '是', no: '否' },
  satisfaction: { satisfied: '满意', basically_satisfied: '基本满意', unsatisfied: '不满意' },
  dept: { title: '部门任务', handling: '处置中', dispatched: '待签收', requested: '申请中' },
  eval: { kind: '考核对象', from: '起', to: '止', load: '查询', export: '导出', score: '得分', grade: '等级', rank: '名次', subject: '对象', explain: '明细', grid_workers: '监督员', acceptors: '受理员', shift_leaders: '值班长', dispatchers: '派遣员', departments: '专业部门', areas: '区域', hotline: '12345 热线' },
  dash: { reported: '上报', filed: '立案', closed: '结案', open: '在办', overdue: '超期', closure_rate: '结案率', on_time_rate: '按期结案率', by_street: '按街道', by_category: '按类别', by_source: '按来源', daily: '每日趋势', level: '层级' },
  admin: { users: '用户', departments: '部门', categories: '类别', rules: '责任规则', calendar: '工作日历', maps: '网格地图导入', evaluation_rules: '考核规则', create: '新建', save: '保存', delete: '删除', dryRun: '试算', year: '年份', dryRunMap: '检查（不导入）', importMap: '导入', problems: '问题清单', json: 'JSON' },
  settings: { tiles: '底图瓦片 URL', datum: '底图坐标系', hint: '如 http://tiles.example/{z}/{x}/{y}.png（内网瓦片服务）；高德、腾讯为 GCJ-02，百度为 BD-09。留空则不用底图。', saved: '已保存' },
}

const en: typeof zh = {
  app: { title: 'Command center', language: '中文', signOut: 'Sign out', notAvailable: 'Not available (the server does not offer this yet)' },
  nav: { map: 'Map', queues: 'Queues', department: 'Department', rankings: 'Rankings', dashboard: 'Dashboard', hotspots: 'Hot spots', admin: 'Administration', settings: 'Settings' },
  login: { title: 'Sign in to the command center', username: 'Username', password: 'Password', otp: 'One-time code', otpHint: 'Enter the 6-digit code from your authenticator', submit: 'Sign in', failed: 'Sign-in failed' },
  map: { filters: 'Filters', apply: 'Apply', reset: 'Reset', levels: 'Layers', district: 'Districts', street: 'Streets', community: 'Communities', grid: 'Unit grids', cases: 'Cases', legend: 'Legend', noBase: 'No base map configured: grids on a plain background', open: 'Open case', ring: 'Ring: blue intake · purple to dispatch · grey at the department · black verification and closing' },
  filter: { state: 'State', process: 'Process', category: 'Category', street: 'Street code', community: 'Community code', grid: 'Grid code', department: 'Department', source: 'Source', overdue: 'Overdue', dueBefore: 'Due before', reportedFrom: 'Reported from', reportedTo: 'Reported to', q: 'Text', sort: 'Sort' },
  queue: { to_accept: 'To accept', to_file: 'To file', to_dispatch: 'To dispatch', to_assign: 'Verification to assign', to_close: 'To close', to_call_back: 'To call back', approvals: 'Approvals', overdue: 'Overdue', warning: 'Warning', refreshed: 'Refreshed', number: 'Number', category: 'Category', state: 'State', deadline: 'Deadline', sla: 'SLA', address: 'Address', description: 'Description', department: 'Department' },
  sla: { ok: 'On time', warning: 'Warning', overdue: 'Overdue', none: '—' },
  case: { details: 'Case', photos: 'Photos', history: 'History', chainOk: 'History chain intact (not tampered with)', chainBroken: 'History chain broken at event {seq}', actions: 'Actions', noActions: 'Nothing for you to do on this case now', reload: 'Reload', conflict: 'The action was not taken: someone else acted on the case, or its state does not allow it now. The case has been reloaded.', stale: 'Someone changed the case in the meantime; look at the new version before acting. Reloaded.', done: 'Done: {action}', deadline: 'Deadline', remaining: 'Remaining', elapsed: 'Used', actor: 'By', time: 'Time', comment: 'Comment', location: 'Location', suggested: 'suggested by the rules', upload: 'Upload photos', confirm: 'Submit', cancel: 'Cancel', duplicates: 'Possible duplicates nearby' },
  field: { department: 'Department', reason: 'Reason', comment: 'Comment', photos: 'Photos', until: 'Until', grid_worker: 'Grid worker (user id)', duplicate_of: 'Duplicate of (case id)', confirmed: 'Confirmed', passed: 'Passed', resolved: 'Resolved', satisfaction: 'Satisfaction', unreachable: 'Citizen not reached', score: 'Score', category: 'Category', urgency: 'Urgency' },
  answer: { yes: 'Yes', no: 'No' },
  satisfaction: { satisfied: 'Satisfied', basically_satisfied: 'Basically satisfied', unsatisfied: 'Unsatisfied' },
  dept: { title: 'Department queue', handling: 'Handling', dispatched: 'To acknowledge', requested: 'Requested' },
  eval: { kind: 'Kind', from: 'From', to: 'To', load: 'Load', export: 'Export', score: 'Score', grade: 'Grade', rank: 'Rank', subject: 'Subject', explain: 'Explain', grid_workers: 'Grid workers', acceptors: 'Acceptors', shift_leaders: 'Shift leaders', dispatchers: 'Dispatchers', departments: 'Departments', areas: 'Areas', hotline: '12345 hotline' },
  dash: { reported: 'Reported', filed: 'Filed', closed: 'Closed', open: 'Open', overdue: 'Overdue', closure_rate: 'Closure rate', on_time_rate: 'On-time rate', by_street: 'By street', by_category: 'By category', by_source: 'By source', daily: 'Daily trend', level: 'Level' },
  admin: { users: 'Users', departments: 'Departments', categories: 'Categories', rules: 'Responsibility rules', calendar: 'Work calendar', maps: 'Grid map import', evaluation_rules: 'Evaluation rules', create: 'Create', save: 'Save', delete: 'Delete', dryRun: 'Dry run', year: 'Year', dryRunMap: 'Check only', importMap: 'Import', problems: 'Problems', json: 'JSON' },
  settings: { tiles: 'Base map tile URL', datum: 'Datum of the tiles', hint: 'e.g. http://tiles.example/{z}/{x}/{y}.png (an intranet tile server); AMap and Tencent are GCJ-02, Baidu BD-09. Empty: no base map.', saved: 'Saved' },
}

export const i18n = createI18n({ legacy: false, locale: 'zh-CN', fallbackLocale: 'zh-CN', messages: { 'zh-CN': zh, en } })
