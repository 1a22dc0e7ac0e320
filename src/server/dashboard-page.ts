/**
 * The dashboard's single page: plain DOM and uPlot, polling the JSON views once a second (no
 * build step, nothing from the network but this server). Routes by hash: `#/` the lists,
 * `#/training-jobs/<name>` a job (transitions, per-channel MB/s and trainer wait as uPlot
 * charts computed from successive ChannelMetrics samples, the log tail), `#/endpoints/<name>`
 * an endpoint (variants; requests/s and latency p50/p99 when its runner reports them).
 * Text from records and logs is only ever set as textContent, never as HTML.
 */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pipemode server</title>
<link rel="stylesheet" href="/dashboard/uplot.css">
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
header{background:#1d2b3a;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:baseline}
header a{color:#cfe3ff;text-decoration:none}header h1{font-size:17px;margin:0}
main{padding:16px 20px;max-width:1200px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:12px 16px;margin-bottom:16px}
h2{font-size:15px;margin:0 0 8px}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}th{font-weight:600;color:#556}
.st{font-weight:600;padding:1px 8px;border-radius:10px;font-size:12px}
.InProgress,.Creating,.Updating,.Stopping,.Training,.Starting,.Downloading,.Uploading{background:#fff3cd;color:#7a5b00}
.Completed,.InService{background:#d4f4dd;color:#14632c}.Failed{background:#fbd9d9;color:#8a1c1c}.Stopped,.MaxRuntimeExceeded,.Deleting{background:#e4e6ea;color:#444}
pre{background:#10161d;color:#d6e2ee;padding:10px;border-radius:4px;max-height:320px;overflow:auto;font-size:12px;margin:0}
.muted{color:#778}.charts{display:flex;gap:16px;flex-wrap:wrap}.reason{color:#8a1c1c}
</style></head><body>
<header><h1>pipemode server</h1><a href="#/">overview</a><span class="muted" id="updated"></span></header>
<main id="main"></main>
<script src="/dashboard/uplot.js"></script>
<script>
(function(){
  var main=document.getElementById('main');
  var state={route:null,timer:null,samples:[],charts:{},epSamples:[]};
  function el(tag,attrs,children){var e=document.createElement(tag);if(attrs)for(var k in attrs){if(k==='text')e.textContent=attrs[k];else e.setAttribute(k,attrs[k]);}
    (children||[]).forEach(function(c){if(c)e.appendChild(typeof c==='string'?document.createTextNode(c):c);});return e;}
  function badge(s){return el('span',{'class':'st '+(s||''),text:s||'?'});}
  function when(t){return t==null?'':new Date(t*1000).toLocaleTimeString();}
  function link(kind,name){return el('a',{href:'#/'+kind+'/'+encodeURIComponent(name),text:name});}
  function get(u){return fetch(u,{credentials:'same-origin'}).then(function(r){if(!r.ok)throw new Error(r.status);return r.json();});}
  function table(head,rows){return el('table',null,[el('tr',null,head.map(function(h){return el('th',{text:h});}))].concat(rows.map(function(r){return el('tr',null,r.map(function(c){return el('td',null,[c==null?'':c]);}));})));}
  function overview(d){
    main.replaceChildren(
      el('section',{id:'training-jobs'},[el('h2',{text:'Training jobs ('+d.trainingJobs.length+')'}),
        table(['name','status','secondary','created','last change','reason'],d.trainingJobs.map(function(j){return [link('training-jobs',j.name),badge(j.status),badge(j.secondary),when(j.created),when(j.modified),j.failureReason?el('span',{'class':'reason',text:j.failureReason}):''];}))]),
      el('section',{id:'endpoints'},[el('h2',{text:'Endpoints ('+d.endpoints.length+')'}),
        table(['name','status','config','created','last change','reason'],d.endpoints.map(function(e){return [link('endpoints',e.name),badge(e.status),e.config,when(e.created),when(e.modified),e.failureReason?el('span',{'class':'reason',text:e.failureReason}):''];}))]),
      el('section',{id:'transform-jobs'},[el('h2',{text:'Transform jobs ('+d.transformJobs.length+')'}),
        table(['name','status','model','created','last change','reason'],d.transformJobs.map(function(t){return [t.name,badge(t.status),t.model,when(t.created),when(t.modified),t.failureReason?el('span',{'class':'reason',text:t.failureReason}):''];}))]));
  }
  function chart(id,title,names,unit,host){
    var c=state.charts[id];if(c)return c;
    var series=[{}].concat(names.map(function(n,i){return {label:n,stroke:['#2f6fdf','#d9822b','#2a9d5c','#b43f8f','#6b5bd6','#c0392b'][i%6],width:2};}));
    c=new uPlot({title:title,width:560,height:220,series:series,axes:[{},{label:unit}],scales:{x:{time:true}}},[[]].concat(names.map(function(){return [];})),host);
    c.names=names;state.charts[id]=c;return c;
  }
  function jobView(d){
    if(!d.found){main.replaceChildren(el('section',null,[el('h2',{text:'no such training job'})]));return;}
    var names=Object.keys(d.channels).sort();
    // counters refresh every second or two: a poll that saw no refresh is skipped (it would chart a false 0)
    var prev=state.samples[state.samples.length-1];
    if(!prev||JSON.stringify(prev.ch)!==JSON.stringify(d.channels)||d.now-prev.t>3){state.samples.push({t:d.now,ch:d.channels});if(state.samples.length>600)state.samples.shift();}
    var ts=[],rate=names.map(function(){return [];}),wait=names.map(function(){return [];});
    for(var i=1;i<state.samples.length;i++){var a=state.samples[i-1],b=state.samples[i],dt=b.t-a.t;if(dt<=0)continue;ts.push(b.t);
      names.forEach(function(n,k){var x=a.ch[n]||{},y=b.ch[n]||{};rate[k].push(((y.BytesDelivered||0)-(x.BytesDelivered||0))/dt/1048576);
        wait[k].push(Math.min(100,Math.max(0,((y.WaitSeconds||0)-(x.WaitSeconds||0))/dt*100)));});}
    var head=el('section',{id:'job'},[el('h2',null,[d.name+' ',badge(d.status),' ',badge(d.secondary)]),
      el('div',{'class':'muted',text:d.arn+' · '+(d.inputMode||'')+' mode · created '+when(d.created)+(d.started?' · training since '+when(d.started):'')+(d.ended?' · ended '+when(d.ended):'')}),
      d.failureReason?el('p',{'class':'reason',text:d.failureReason}):null,d.modelArtifacts?el('p',{text:'model: '+d.modelArtifacts}):null]);
    var chans=el('section',{id:'channels'},[el('h2',{text:'Channels'}),
      table(['host/channel','bytes delivered','GET requests','retries','trainer wait (s)'],names.map(function(n){var m=d.channels[n];return [n,String(m.BytesDelivered),String(m.GetRequests),String(m.Retries),String(m.WaitSeconds==null?'':m.WaitSeconds)];}))]);
    var chartBox=el('div',{'class':'charts'});
    var trans=el('section',{id:'transitions'},[el('h2',{text:'Status transitions'}),table(['status','start','end','message'],d.transitions.map(function(t){return [badge(t.status),when(t.start),when(t.end),t.message];}))]);
    var log=el('pre',{id:'log'});log.textContent=d.log.map(function(l){return '['+l.stream+'] '+l.message;}).join('\\n')||'(no output yet)';
    var existing=document.getElementById('chart-box');
    if(!existing||state.charts.key!==names.join(',')){state.charts={key:names.join(',')};
      chartBox.id='chart-box';
      main.replaceChildren(head,chans,el('section',null,[el('h2',{text:'Throughput and starvation'}),chartBox]),trans,el('section',null,[el('h2',{text:'Log tail'}),log]));
    } else {
      main.replaceChild(head,main.children[0]);main.replaceChild(chans,main.children[1]);main.replaceChild(trans,main.children[3]);
      main.children[4].replaceChild(log,main.children[4].children[1]);chartBox=existing;
    }
    if(names.length>0){
      chart('rate','MB/s per channel',names,'MB/s',chartBox).setData([ts].concat(rate));
      chart('wait','trainer waiting for data (% of time)',names,'%',chartBox).setData([ts].concat(wait));
    } else if(!chartBox.firstChild){chartBox.appendChild(el('p',{'class':'muted',text:'no channel counters yet (they appear once data flows)'}));}
    var pre=document.getElementById('log');if(pre)pre.scrollTop=pre.scrollHeight;
  }
  function endpointView(d){
    if(!d.found){main.replaceChildren(el('section',null,[el('h2',{text:'no such endpoint'})]));return;}
    var r=d.record;var secs=[el('section',{id:'endpoint'},[el('h2',null,[r.EndpointName+' ',badge(r.EndpointStatus)]),el('div',{'class':'muted',text:r.EndpointArn+' · config '+r.EndpointConfigName}),
      r.FailureReason?el('p',{'class':'reason',text:r.FailureReason}):null,
      table(['variant','desired weight','current weight','desired instances','current instances'],(r.ProductionVariants||[]).map(function(v){return [v.VariantName,String(v.DesiredWeight==null?'':v.DesiredWeight),String(v.CurrentWeight==null?'':v.CurrentWeight),String(v.DesiredInstanceCount==null?'':v.DesiredInstanceCount),String(v.CurrentInstanceCount==null?'':v.CurrentInstanceCount)];}))])];
    var box=el('div',{'class':'charts'});
    if(d.metrics&&d.metrics.points&&d.metrics.points.length>0){state.charts={};var p=d.metrics.points;var t=p.map(function(x){return x.t;});
      secs.push(el('section',null,[el('h2',{text:'Requests and latency'}),box]));main.replaceChildren.apply(main,secs);
      chart('rps','requests/s',['requests/s'],'req/s',box).setData([t,p.map(function(x){return x.requests;})]);
      chart('lat','latency',['p50','p99'],'ms',box).setData([t,p.map(function(x){return x.p50Ms;}),p.map(function(x){return x.p99Ms;})]);
    } else {secs.push(el('section',null,[el('h2',{text:'Requests and latency'}),el('p',{'class':'muted',text:'no request metrics: this endpoint has no running container reporting them'})]));main.replaceChildren.apply(main,secs);}
  }
  function tick(){
    var h=location.hash||'#/';var m;var p;
    if((m=/^#\\/training-jobs\\/(.+)$/.exec(h)))p=get('/dashboard/api/training-jobs/'+m[1]).then(jobView);
    else if((m=/^#\\/endpoints\\/(.+)$/.exec(h)))p=get('/dashboard/api/endpoints/'+m[1]).then(endpointView);
    else p=get('/dashboard/api/overview').then(overview);
    p.then(function(){document.getElementById('updated').textContent='updated '+new Date().toLocaleTimeString();},
      function(e){document.getElementById('updated').textContent='cannot reach the server ('+e.message+')';});
  }
  window.addEventListener('hashchange',function(){state.samples=[];state.charts={};main.replaceChildren();tick();});
  tick();setInterval(tick,1000);
})();
</script></body></html>
`;
